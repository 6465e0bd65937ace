"""Test set-up: seeded runs, quiet TensorFlow, markers that skip by themselves."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# tests reach no host but this one: a tfds source fails as offline without probing the
# network (the commands that tests start inherit it)
os.environ["RNN_APPS_OFFLINE"] = "1"

import keras  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a GPU; skipped when none is visible")


def pytest_collection_modifyitems(config, items):
    if tf.config.list_physical_devices("GPU"):
        return
    skip = pytest.mark.skip(reason="no GPU visible to TensorFlow")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture(scope="session")
def tiny_runs(request, tmp_path_factory):
    """Each recipe's journey through the command line, run once per session in separate
    processes, two recipes at a time (tests/journey.py): ``{recipe: Journey}`` with the
    tiny data, the one-epoch run folder (left as fit wrote it), its export, a resumed copy
    and its export, and every command's exit status, stdout and stderr.

    Only the recipes that the collected tests ask for run (a test without a ``recipe``
    parameter gets all of them)."""
    from tests import journey

    wanted: set[str] = set()
    for item in request.session.items:
        if "tiny_runs" not in getattr(item, "fixturenames", ()):
            continue
        callspec = getattr(item, "callspec", None)
        recipe = callspec.params.get("recipe") if callspec else None
        wanted |= {recipe} if recipe in journey.RECIPES else set(journey.RECIPES)
    return journey.run_journeys(tmp_path_factory.mktemp("journeys"), sorted(wanted))
