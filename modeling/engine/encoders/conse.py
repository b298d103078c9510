"""ConSE (Norouzi et al., ICLR 2014): ImageNet class probabilities → a point in text space.

An image's vector is the L2-normalised, probability-weighted mean of the text vectors of
its top-T ImageNet classes; the probabilities are a softmax of the classifier's logits at a
temperature. The class texts come from WordNet (timm ships the lemma and gloss tables).
Everything here works on logits, so T, temperature and class texts can be retuned on
stored logits without re-running the image model (``benchmarks/conse_tuning.py``).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from modeling.engine.encoders.base import EncoderLoadError, l2_normalize


def _timm_info(name: str) -> list[str]:
    try:
        text = resources.files("timm.data").joinpath("_info", name).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise EncoderLoadError(f"timm's ImageNet table {name} is missing: {exc}") from exc
    return text.splitlines()


@functools.lru_cache(maxsize=1)
def imagenet_wordnet() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(lemmas, glosses) of the 1,000 ImageNet-1k classes, in the classifier's output order.

    lemmas[i] is the comma-separated WordNet lemma list (``"tabby, tabby cat"``).
    """
    synsets = [line.strip() for line in _timm_info("imagenet_synsets.txt") if line.strip()]
    lemma = dict(line.split("\t", 1) for line in _timm_info("imagenet_synset_to_lemma.txt"))
    gloss = dict(line.split("\t", 1) for line in _timm_info("imagenet_synset_to_definition.txt"))
    return tuple(lemma[s] for s in synsets), tuple(gloss[s] for s in synsets)


def _first(lemmas: str) -> str:
    return lemmas.split(",")[0].strip()


# How a class is written before MiniLM embeds it; measured in benchmarks/conse_tuning.py.
CLASS_TEXT_FORMS: dict[str, Callable[[str, str], str]] = {
    "lemma": lambda lemmas, gloss: _first(lemmas),
    "lemmas": lambda lemmas, gloss: lemmas,
    "photo": lambda lemmas, gloss: f"a photo of a {_first(lemmas)}",
    "lemma_gloss": lambda lemmas, gloss: f"{_first(lemmas)}: {gloss}",
}

# How an expert's phrase is written before MiniLM embeds it.
PHRASE_FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda phrase: phrase,
    "photo": lambda phrase: f"a photo of a {phrase}",
}


def class_texts(form: str) -> list[str]:
    """The 1,000 ImageNet class texts written in ``form`` (a key of CLASS_TEXT_FORMS)."""
    writer = CLASS_TEXT_FORMS[form]
    lemmas, glosses = imagenet_wordnet()
    return [writer(lemma, gloss) for lemma, gloss in zip(lemmas, glosses, strict=True)]


def class_text_vectors(
    form: str, encode: Callable[[list[str]], np.ndarray], cache_dir: Path | None = None
) -> np.ndarray:
    """float32 ``(1000, d)`` text vectors of the class texts, cached on disk by text hash."""
    texts = class_texts(form)
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = cache_dir / f"classtext-{form}-{digest}.npy" if cache_dir else None
    if path is not None and path.is_file():
        cached: np.ndarray = np.load(path)
        return cached
    vectors = encode(texts).astype(np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{id(vectors)}.npy")
        np.save(tmp, vectors)
        tmp.replace(path)
    return vectors


def conse_vectors(
    logits: np.ndarray | torch.Tensor, class_vectors: np.ndarray, top: int, temperature: float
) -> np.ndarray:
    """ConSE vectors of images from their class logits.

    logits: ``(n, C)`` raw classifier outputs (any float dtype).
    class_vectors: float32 ``(C, d)`` text vectors of the C classes.
    top: T, how many of the most probable classes to mix (1 ≤ T ≤ C).
    temperature: softmax temperature; > 1 flattens the mix toward lower-ranked classes.
    Returns float32 ``(n, d)`` L2-normalised rows.
    """
    scores = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    probs = torch.softmax(scores / temperature, dim=1)
    weights, index = torch.topk(probs, k=min(top, probs.shape[1]), dim=1)
    # Scatter the top-T probabilities into an (n, C) matrix that is zero elsewhere, then one
    # matmul: cheaper than gathering an (n, T, d) tensor when T is large.
    sparse = torch.zeros_like(probs).scatter_(1, index, weights)
    table = torch.from_numpy(np.ascontiguousarray(class_vectors, dtype=np.float32))
    return l2_normalize((sparse @ table).numpy())
