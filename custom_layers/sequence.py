"""The named sequence layers' shared constructor: build the cell from flat arguments."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from custom_layers.base import RNN, RNNCellBase

_LAYER_KEYS = ("name", "dtype", "trainable")


class CellLayer(RNN):
    """A sequence layer that builds its own cell, as ``keras.layers.LSTM`` does.

    Subclasses set :attr:`cell_class`. Every constructor argument of the cell is a
    constructor argument of the layer and appears flat in ``get_config()``, so that
    ``keras.layers.Bidirectional`` can rebuild the backward copy from the config. To
    run a changed formula, subclass the cell and point ``cell_class`` at it.
    """

    cell_class: ClassVar[type[RNNCellBase]]

    def __init__(
        self,
        units: int,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs,
    ):
        names = self._cell_argument_names()
        cell_kwargs = {key: kwargs.pop(key) for key in list(kwargs) if key in names}
        cell = self.cell_class(
            units,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name=f"{self.cell_class.__name__.lower()}",
            **cell_kwargs,
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            **kwargs,
        )

    @classmethod
    def _cell_argument_names(cls) -> set[str]:
        names: set[str] = set()
        for klass in cls.cell_class.__mro__:
            if klass is RNNCellBase.__mro__[1]:  # stop at keras.layers.Layer
                break
            if "__init__" in vars(klass):
                params = inspect.signature(klass.__init__).parameters.values()
                names.update(
                    p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"
                )
        return names - {"units"}

    @property
    def units(self) -> int:
        return self.cell.units

    def __getattr__(self, name: str) -> Any:
        # cell hyper-parameters (activation, dropout, ...) read through the layer
        if name != "cell" and name in type(self)._cell_argument_names() and "cell" in vars(self):
            return getattr(self.cell, name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        cell_config = config.pop("cell")["config"]
        for key in _LAYER_KEYS:
            cell_config.pop(key, None)
        return {**config, **cell_config}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)
