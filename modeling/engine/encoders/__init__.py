"""Encoders behind one name-keyed registry and one short factory (open_clip ``factory.py`` style).

>>> encoder = create_encoder("offline")            # EfficientNet-Lite0 + MiniLM via ConSE
>>> encoder.encode_texts(["a red bicycle"]).shape
(1, 384)

Factories import their heavy dependencies (torch models, open_clip) only when called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modeling.engine.encoders.base import (
    EncodedBatch,
    Encoder,
    EncoderCapabilityError,
    EncoderLoadError,
    KeyedEncoder,
    PrecomputedVectorsError,
    Progress,
    UnknownEncoderError,
    l2_normalize,
)

Factory = Callable[..., Any]


def _offline(**options: Any) -> Encoder:
    from modeling.engine.encoders.offline import DEFAULT_SETTINGS, OfflineEncoder, OfflineSettings

    setting_names = set(OfflineSettings.__dataclass_fields__)
    settings = {k: options.pop(k) for k in list(options) if k in setting_names}
    base = DEFAULT_SETTINGS.__dict__ | settings
    return OfflineEncoder(OfflineSettings(**base), **options)


def _open_clip(**options: Any) -> Encoder:
    from modeling.engine.encoders.open_clip_encoder import OpenClipEncoder

    return OpenClipEncoder(**options)


def _precomputed(**options: Any) -> Encoder:
    from modeling.engine.encoders.precomputed import PrecomputedEncoder

    return PrecomputedEncoder.from_files(**options)


def _minilm(**options: Any) -> Encoder:
    from modeling.engine.encoders.minilm import MiniLMEncoder

    if options:
        raise EncoderLoadError(f"the 'minilm' encoder takes no options, got {sorted(options)}")
    return MiniLMEncoder()


_REGISTRY: dict[str, Factory] = {
    "offline": _offline,
    "open_clip": _open_clip,
    "precomputed": _precomputed,
    "minilm": _minilm,
}

DEFAULT_ENCODER = "offline"


def register_encoder(name: str, factory: Factory) -> None:
    """Add (or replace) a factory under ``name``; ``factory(**options)`` returns an Encoder."""
    _REGISTRY[name] = factory


def available_encoders() -> list[str]:
    """Registered encoder names, the default first."""
    return [DEFAULT_ENCODER] + sorted(n for n in _REGISTRY if n != DEFAULT_ENCODER)


def create_encoder(name: str = DEFAULT_ENCODER, **options: Any) -> Encoder:
    """The encoder registered as ``name``, built with ``options``.

    Raises UnknownEncoderError (listing the known names) for an unknown name, and
    EncoderLoadError when weights or options are wrong. Option names are per encoder:
    offline: top, temperature, class_text, phrase, resolution, precision, batch_size;
    open_clip: model, pretrained, checkpoint, precision, batch_size;
    precomputed: vectors, ids, features, normalize, text_encoder.
    """
    factory = _REGISTRY.get(name)
    if factory is None:
        known = ", ".join(available_encoders())
        raise UnknownEncoderError(f"unknown encoder {name!r}; known encoders: {known}")
    try:
        encoder: Encoder = factory(**options)
    except TypeError as exc:
        raise EncoderLoadError(f"bad options for encoder {name!r}: {exc}") from exc
    return encoder


__all__ = [
    "DEFAULT_ENCODER",
    "EncodedBatch",
    "Encoder",
    "EncoderCapabilityError",
    "EncoderLoadError",
    "KeyedEncoder",
    "PrecomputedVectorsError",
    "Progress",
    "UnknownEncoderError",
    "available_encoders",
    "create_encoder",
    "l2_normalize",
    "register_encoder",
]
