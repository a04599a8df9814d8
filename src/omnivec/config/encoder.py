"""The base of every encoder's config dataclass (open_clip's ``CLIPVisionCfg`` style): each encoder file in
``omnivec.nn.encoders`` declares ``@dataclass class XConfig(EncoderConfig)`` with its fields and defaults, and
registering the encoder names its config (``XConfig.name``). ``ModelConfig.encoders`` holds these objects; they
are read by :func:`omnivec.config.from_dict` (``{name: registered encoder, ...fields}``) and written by
:meth:`EncoderConfig.to_dict`. No caller keeps a default of its own: a field not given is the dataclass's.

Below the model and free of torch, so configs load without building anything.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass
class EncoderConfig:
    """One encoder's fields; subclasses add them (every one with a default, so ``XConfig()`` builds)."""

    name: ClassVar[str] = ""
    """The registered encoder this config builds (``encoders.<modality>.name``); set when the encoder registers."""
    given: ClassVar[tuple[str, ...]] = ()
    """The keys a config file gave, in its order (``name`` among them); :func:`omnivec.config.from_dict` sets it
    on the instance, so a ``config.yaml`` is written back as it was read: the fields it named and no others."""

    def __setattr__(self, key: str, value: Any) -> None:
        """A field set after the config was read joins ``given`` (as a key added to a mapping would)."""
        object.__setattr__(self, key, value)
        if "given" in vars(self) and key in {f.name for f in dataclasses.fields(self)} and key not in self.given:
            object.__setattr__(self, "given", (*self.given, key))

    def to_dict(self) -> dict[str, Any]:
        """``{name, ...fields}``: the keys the config was read with or set afterwards, in that order, then any
        other field that differs from its default (a config built in code), so writing what was read gives the
        same bytes."""
        keys = list(self.given) if "name" in self.given else ["name", *self.given]
        default = type(self)()
        keys += [
            f.name
            for f in dataclasses.fields(self)
            if f.name not in keys and getattr(self, f.name) != getattr(default, f.name)
        ]
        return {k: self.name if k == "name" else copy.deepcopy(getattr(self, k)) for k in keys}
