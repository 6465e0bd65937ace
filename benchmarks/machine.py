"""What the benchmarks print about the machine they ran on (`python benchmarks/machine.py`
prints it all)."""

from __future__ import annotations

import os
import platform


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def gpu_names() -> list[str]:
    """Names of the GPUs TensorFlow sees (imports TensorFlow; empty without a GPU)."""
    import tensorflow as tf

    return [
        tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        for gpu in tf.config.list_physical_devices("GPU")
    ]


def machine_line() -> str:
    """``CPU, N cores`` and, where TensorFlow sees any, ``; GPU: NAME``."""
    gpus = gpu_names()
    return f"{cpu_name()}, {os.cpu_count()} cores" + (f"; GPU: {', '.join(gpus)}" if gpus else "")


def main() -> None:
    """Prints the machine as the GPU check reports it: CPU, TensorFlow's build, its GPUs."""
    import tensorflow as tf

    build = tf.sysconfig.get_build_info()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical cores")
    print(
        f"TensorFlow {tf.__version__}; CUDA build: {build.get('is_cuda_build')}, "
        f"CUDA {build.get('cuda_version', '-')}, cuDNN {build.get('cudnn_version', '-')}"
    )
    print(f"TF32 on by default: {tf.config.experimental.tensor_float_32_execution_enabled()}")
    gpus = tf.config.list_physical_devices("GPU")
    print(f"GPUs visible to TensorFlow: {len(gpus)}")
    for gpu in gpus:
        print(f"  {gpu.name}: {tf.config.experimental.get_device_details(gpu)}")


if __name__ == "__main__":
    main()
