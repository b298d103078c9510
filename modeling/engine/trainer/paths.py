"""Equivalent ways to evaluate a folded ReLU MLP on feature rows: fp32, bf16, int8.

Every path computes the logits of ``TrainedModel.folded_layers()`` -- any depth and
width, a linear head being one layer -- for a :class:`Chunk` of rows: float16/float32
features, or int8 codes with per-row scales (the int8 copy, ``modeling/engine/int8.py``).
Which is fastest depends on the CPU, so :mod:`~modeling.engine.trainer.scoring` times
them on the pool at hand (``modeling.engine.kernels.choose``) and keeps the winner:

- ``fp32``: float32 matmuls, the reference. Rows are cast into one reused buffer (a
  fresh 84 MB buffer per chunk cost more in page faults than the cast itself).
- ``bf16``: hidden layers in bfloat16, output layer in float32 (logits keep their
  order). 2-5x faster than fp32 on CPUs with AVX512-BF16 or AMX, ~10x slower on
  AVX2-only ones, where torch emulates it.
- ``int8``: oneDNN int8 matmuls (``torch.ops.onednn.qlinear_pointwise``, u8/s8 x s8 ->
  s32, the kernel torch's x86 quantisation backend uses), float32 output layer.
  Weights are quantised per output unit to **7 bits** (|q| <= 63): without VNNI (AVX2)
  the CPU multiplies u8 x s8 pairs into a saturating int16 (``vpmaddubsw``), and
  255 * 63 * 2 < 32767 keeps every product exact (8-bit weights saturated and gave
  wrong sums on random data). The first layer reads the int8 copy's codes shifted to
  unsigned (``code ^ 0x80 == code + 128`` as a byte, zero point 128) and applies the row
  scales after the matmul: oneDNN's x86 int8 kernels take unsigned activations, and a
  signed input falls to a reference kernel ~2,500x slower (19.5 s against 7.7 ms for a
  4,096 x 1,280 x 128 product, on a Zen 5 EPYC with AVX-512 VNNI); the shift is one
  pass over the chunk into a reused buffer (~10 % of the product). Float rows are quantised per row on the fly by the int8 copy's
  rule, straight to the shifted bytes. Hidden activations are unsigned 8-bit with one scale per
  layer (the largest activation over a calibration sample of pool rows / 255), bias,
  ReLU and requantisation fused into the matmul.

The int8 path approximates: ``scoring`` checks it against fp32 on sample rows of the
pool for every model and falls back to fp32 past a tolerance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch

from modeling.engine.trainer.model import Layers

#: Largest magnitude of a 7-bit weight code (see the module docstring).
WEIGHT_LEVELS = 63
#: Zero point of the first layer's unsigned input: int8 code c is fed as the byte c + 128.
CODE_SHIFT = 128


@dataclass(frozen=True)
class Chunk:
    """rows: (n, d) float16/float32 features, or int8 codes; scales: (n,) float32 row
    scales when ``rows`` are codes (row i stands for rows[i] * scales[i]), else None."""

    rows: torch.Tensor
    scales: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.rows.shape[0])


Logits = Callable[[Chunk], torch.Tensor]
"""A prepared path: logits (n,) float32 of a chunk of n rows."""


def prepare(name: str, layers: Layers, sample: Chunk, chunk_rows: int) -> Logits:
    """Path ``name`` ("fp32", "bf16" or "int8") ready for ``layers``; ``sample`` rows of
    the pool calibrate the int8 activation scales; ``chunk_rows`` sizes reused buffers.
    A prepared path keeps buffers: use it from one thread at a time."""
    if name == "fp32":
        return _Fp32(layers, chunk_rows)
    if name == "bf16":
        return _Bf16(layers)
    if name == "int8":
        return _Int8(layers, sample, chunk_rows)
    raise ValueError(f"unknown scoring path {name!r}; paths: {available()}")


def available() -> list[str]:
    """The paths this torch build can run, the reference (fp32) first."""
    return ["fp32", "bf16", *(["int8"] if _int8_works() else [])]


class _Fp32:
    def __init__(self, layers: Layers, chunk_rows: int) -> None:
        self.layers = layers
        self.buffers = _Buffers(chunk_rows)

    def __call__(self, chunk: Chunk) -> torch.Tensor:
        x = self.buffers.get("rows", tuple(chunk.rows.shape), torch.float32).copy_(chunk.rows)
        (w_in, b_in), *rest = self.layers
        if chunk.scales is None:
            h = torch.addmm(b_in, x, w_in.T)
        else:  # (codes @ W) * s + b == (codes * s) @ W + b
            h = torch.addcmul(b_in, x @ w_in.T, chunk.scales[:, None])
        for w, b in rest:
            h = torch.addmm(b, torch.relu_(h), w.T)
        return h[:, 0]


class _Bf16:
    def __init__(self, layers: Layers) -> None:
        *hidden, output = layers
        self.hidden = [(w.to(torch.bfloat16), b.to(torch.bfloat16)) for w, b in hidden]
        self.output = output
        self.linear = None if hidden else _Fp32(layers, 0)  # a linear head: one float32 layer

    def __call__(self, chunk: Chunk) -> torch.Tensor:
        if self.linear is not None:
            return self.linear(chunk)
        x = chunk.rows.to(torch.bfloat16)
        (w_in, b_in), *rest = self.hidden
        if chunk.scales is None:
            h = torch.addmm(b_in, x, w_in.T)
        else:
            h = torch.addcmul(b_in, x @ w_in.T, chunk.scales.to(torch.bfloat16)[:, None])
        for w, b in rest:
            h = torch.addmm(b, torch.relu_(h), w.T)
        w_out, b_out = self.output
        return torch.addmm(b_out, torch.relu_(h).to(torch.float32), w_out.T)[:, 0]


@dataclass(frozen=True)
class Int8Layer:
    """A linear layer prepacked for oneDNN: 7-bit weights with per-unit scales (out,)."""

    packed: torch.Tensor
    scales: torch.Tensor
    zeros: torch.Tensor
    bias: torch.Tensor

    @classmethod
    def of(cls, weight: torch.Tensor, bias: torch.Tensor, chunk_rows: int) -> Int8Layer:
        scales = (weight.abs().amax(1) / WEIGHT_LEVELS).clamp_min(torch.finfo(torch.float32).tiny)
        codes = torch.round(weight / scales[:, None]).to(torch.int8)
        packed = torch.ops.onednn.qlinear_prepack(codes, [chunk_rows, weight.shape[1]])
        return cls(packed, scales.float(), torch.zeros(len(scales), dtype=torch.long), bias.float())

    def __call__(self, x: torch.Tensor, x_scale: float, *, bias: bool, relu: bool,
                 out_scale: float | None = None, x_zero: int = 0) -> torch.Tensor:
        """``x`` (n, in) uint8 at scale ``x_scale`` and zero point ``x_zero`` (element
        i stands for ``(x[i] - x_zero) * x_scale``); float32 output, or uint8 at
        ``out_scale`` when given."""
        dtype = torch.float32 if out_scale is None else torch.uint8
        out: torch.Tensor = torch.ops.onednn.qlinear_pointwise(
            x, x_scale, x_zero, self.packed, self.scales, self.zeros, self.bias if bias else None,
            1.0 if out_scale is None else out_scale, 0, dtype, "relu" if relu else "none", [], "")
        return out


class _Int8:
    def __init__(self, layers: Layers, sample: Chunk, chunk_rows: int) -> None:
        *hidden, output = layers
        self.first = Int8Layer.of(*layers[0], chunk_rows) if hidden else None
        self.linear = None if hidden else Int8Layer.of(*output, chunk_rows)
        self.hidden = [Int8Layer.of(w, b, chunk_rows) for w, b in hidden[1:]]
        self.output = output
        self.act_scales = _activation_scales(layers, sample)
        # Reused per-chunk buffers: a fresh 20 MB tensor per chunk costs its page faults
        # again every time (they took half the path's time when the shift allocated).
        self.buffers = _Buffers(chunk_rows)

    def __call__(self, chunk: Chunk) -> torch.Tensor:
        codes, scales = self._codes(chunk)
        if self.linear is not None:
            raw = self.linear(codes, 1.0, bias=False, relu=False, x_zero=CODE_SHIFT)[:, 0]
            return torch.addcmul(self.linear.bias, raw, scales)
        assert self.first is not None
        y = self.first(codes, 1.0, bias=False, relu=False, x_zero=CODE_SHIFT)  # (codes @ W^T) * w_scale
        if not self.hidden:
            h = torch.relu_(torch.addcmul(self.first.bias, y, scales[:, None]))
        else:
            # relu(y * s + b) as uint8 at the next layer's input scale, rounded to nearest.
            a = self.act_scales[0]
            n, width = y.shape
            acts = self.buffers.get("acts", (n, width), torch.float32)
            torch.addcmul(self.first.bias / a + 0.5, y, (scales / a)[:, None], out=acts).clamp_(0, 255)
            h = self.buffers.get("acts_u8", (n, width), torch.uint8).copy_(acts)
            for i, layer in enumerate(self.hidden):
                last = i == len(self.hidden) - 1
                h = layer(h, self.act_scales[i], bias=True, relu=True,
                          out_scale=None if last else self.act_scales[i + 1])
        w_out, b_out = self.output
        return torch.addmm(b_out, h, w_out.T)[:, 0]

    def _codes(self, chunk: Chunk) -> tuple[torch.Tensor, torch.Tensor]:
        """Shifted codes (n, d) uint8 (``code + 128``) and row scales (n,): the chunk's own
        int8 codes, or its rows quantised by the int8 copy's rule (scale = max |row| /
        127, codes rounded)."""
        shifted = self.buffers.get("codes", tuple(chunk.rows.shape), torch.uint8)
        if chunk.scales is not None:
            return shift_codes(chunk.rows, out=shifted), chunk.scales
        x = self.buffers.get("rows", tuple(chunk.rows.shape), torch.float32).copy_(chunk.rows)
        low, high = torch.aminmax(x, dim=1)
        peak = torch.maximum(high, -low)
        scales = torch.where(peak > 0, peak / 127.0, torch.ones_like(peak))
        return shifted.copy_(x.mul_((1.0 / scales)[:, None]).round_().add_(CODE_SHIFT)), scales


class _Buffers:
    """Named tensors reused from chunk to chunk, grown when a chunk is larger."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.held: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        n, *rest = shape
        held = self.held.get(name)
        if held is None or held.dtype != dtype or held.shape[0] < n or list(held.shape[1:]) != rest:
            held = self.held[name] = torch.empty((max(n, self.rows), *rest), dtype=dtype)
        return held[:n]


def shift_codes(codes: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """int8 codes as unsigned bytes at zero point :data:`CODE_SHIFT` (``c + 128``: the
    sign bit flipped), for oneDNN's fast unsigned x signed kernel; into ``out`` if given."""
    if out is None:
        return codes.view(torch.uint8) ^ 0x80
    return torch.bitwise_xor(codes.view(torch.uint8), 0x80, out=out)


def _activation_scales(layers: Layers, sample: Chunk) -> list[float]:
    """Per hidden layer after the first: the input scale (largest ReLU output of the
    previous layer over ``sample``, in float32, / 255)."""
    x = sample.rows.to(torch.float32)
    if sample.scales is not None:
        x = x * sample.scales[:, None]
    scales: list[float] = []
    for w, b in layers[:-2]:
        x = torch.relu(torch.addmm(b, x, w.T))
        peak = float(x.max()) if x.numel() else 0.0
        scales.append(peak / 255.0 if peak > 0 else 1.0)
    return scales


@cache
def _int8_works() -> bool:
    """Whether oneDNN's int8 linear runs here and gives exact sums (a tiny product)."""
    try:
        weight = torch.tensor([[1.0, -2.0, 3.0, 0.5]] * 2)
        layer = Int8Layer.of(weight, torch.zeros(2), 4)
        codes = torch.tensor([[10, -20, 30, 127]], dtype=torch.int8)
        got = layer(shift_codes(codes), 1.0, bias=False, relu=False, x_zero=CODE_SHIFT)
    except (RuntimeError, AttributeError, TypeError):
        return False
    want = torch.tensor([[10, -20, 30, 127]], dtype=torch.float32) @ weight.T
    return bool(torch.allclose(got, want, rtol=0.02))
