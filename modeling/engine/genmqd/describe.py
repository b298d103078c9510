"""Describing a synthetic feature vector x* in words, and turning the words into a query.

The GenMQD paper decodes a CLIP image embedding into a caption with a trained decoder. We
have none offline, and need none for the offline encoder, whose grounding is exact:

- :class:`ImageNetDecoder` (offline encoder). x* is a 1280-d EfficientNet-Lite0 feature
  vector; the network's own classifier maps it to 1,000 ImageNet logits, so x* *is* a
  distribution over ImageNet classes. The description is its top classes (first WordNet
  lemma and gloss) with their softmax probabilities, renormalised over the phrases shown.
  With a ``reference`` (the pool's mean feature vector) the logits are those of
  ``x* - reference``: the classes that set x* apart from a typical pool image. Without it,
  a class centre of CIFAR airplanes reads "platypus, can opener, grey whale, revolver"
  (classes every low-resolution image scores moderately); with it, cats read "tabby,
  Egyptian cat, Persian cat, tiger cat". The text query is the weighted mean of the shown
  phrases' MiniLM vectors (ConSE restricted to the words the expert sees): what the expert
  reads is what searches.
- :class:`PhraseBankDecoder` (open_clip, or any encoder whose classifier features are its
  shared-space vectors): the nearest entries of a phrase bank to x* (cosine in the shared
  space), weighted by a softmax of their cosines at CLIP's logit scale; the query is the
  weighted mean of their text vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from modeling.engine.encoders.base import l2_normalize
from modeling.engine.errors import DimensionMismatchError

#: Phrases shown per description (and mixed into its query).
DEFAULT_TOP = 6
#: CLIP's logit scale (1 / temperature of its softmax over cosines).
CLIP_LOGIT_SCALE = 100.0


@dataclass(frozen=True)
class Phrase:
    """One part of a description: ``text``, an optional ``gloss`` and its ``weight`` (the
    weights of a description sum to 1)."""

    text: str
    weight: float
    gloss: str = ""


@dataclass(frozen=True)
class Description:
    """Words for x*: ``phrases`` (best first), the ``query`` (dim,) unit vector in the shared
    space they stand for, and ``source`` naming the decoder."""

    phrases: tuple[Phrase, ...]
    query: np.ndarray
    source: str

    @property
    def text(self) -> str:
        """One line: "airliner 41%, warplane 22%, ..."."""
        return ", ".join(f"{p.text} {100 * p.weight:.0f}%" for p in self.phrases)

    def __repr__(self) -> str:
        return f"Description({self.source}: {self.text})"


class Decoder(Protocol):
    """Describes a classifier-feature vector (d,) in words."""

    source: str

    def describe(self, features: np.ndarray) -> Description: ...


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest ``scores``, best first (argpartition, then sort the k)."""
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    ranked: np.ndarray = top[np.argsort(-scores[top], kind="stable")]
    return ranked


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    out: np.ndarray = e / e.sum()
    return out


def _weighted_query(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Unit (dim,) float32 mean of ``vectors`` (k, dim) weighted by ``weights`` (k,)."""
    mixed = (np.asarray(weights, dtype=np.float64)[:, None] * np.asarray(vectors, dtype=np.float64)).sum(axis=0)
    unit: np.ndarray = l2_normalize(mixed[None, :])[0]
    return unit


class ImageNetDecoder:
    """x* (d,) -> ImageNet class probabilities -> the top classes' names, glosses, weights.

    head_weight (1000, d), head_bias (1000,): the image network's classifier layer;
    lemmas, glosses: 1000 class names (first lemma) and WordNet glosses, in output order;
    class_vectors (1000, dim): the shared-space vectors of the class texts (the ConSE table);
    temperature: softmax temperature over the logits;
    reference: (d,) features of a typical pool image (the pool mean), or None.
    """

    source = "imagenet-classes"

    def __init__(self, head_weight: np.ndarray, head_bias: np.ndarray, lemmas: Sequence[str], glosses: Sequence[str],
                 class_vectors: np.ndarray, *, temperature: float = 1.0, top: int = DEFAULT_TOP,
                 reference: np.ndarray | None = None) -> None:
        if head_weight.shape[0] != len(head_bias) or len(lemmas) != len(head_bias) or len(class_vectors) != len(head_bias):
            raise DimensionMismatchError("head, class names and class vectors must list the same classes")
        self.weight = np.asarray(head_weight, dtype=np.float64)
        self.bias = np.asarray(head_bias, dtype=np.float64)
        self.lemmas, self.glosses = list(lemmas), list(glosses)
        self.class_vectors = np.asarray(class_vectors, dtype=np.float32)
        self.temperature, self.top = temperature, top
        self.reference = None if reference is None else np.asarray(reference, dtype=np.float64).reshape(-1)
        if self.reference is not None and self.reference.shape[0] != self.weight.shape[1]:
            raise DimensionMismatchError(f"reference must be ({self.weight.shape[1]},), got {self.reference.shape}")

    def __repr__(self) -> str:
        ref = "pool mean" if self.reference is not None else "none"
        return f"ImageNetDecoder(classes={len(self.bias)}, T={self.temperature:g}, top={self.top}, reference={ref})"

    def with_reference(self, reference: np.ndarray | None) -> ImageNetDecoder:
        """The same decoder contrasting with ``reference`` (d,) (None: no contrast)."""
        return ImageNetDecoder(self.weight, self.bias, self.lemmas, self.glosses, self.class_vectors,
                               temperature=self.temperature, top=self.top, reference=reference)

    def logits(self, features: np.ndarray) -> np.ndarray:
        """ImageNet logits (1000,) of one feature vector (d,)."""
        x = np.asarray(features, dtype=np.float64).reshape(-1)
        if x.shape[0] != self.weight.shape[1]:
            raise DimensionMismatchError(f"features must be ({self.weight.shape[1]},), got {x.shape}")
        out: np.ndarray = self.weight @ x + self.bias
        return out

    def contrast(self, features: np.ndarray) -> np.ndarray:
        """Logits (1000,) the description ranks: of ``x - reference`` (the bias cancels), or
        plain logits without a reference."""
        if self.reference is None:
            return self.logits(features)
        x = np.asarray(features, dtype=np.float64).reshape(-1)
        out: np.ndarray = self.weight @ (x - self.reference)
        return out

    def describe(self, features: np.ndarray) -> Description:
        probs = _softmax(self.contrast(features) / self.temperature)
        top = _top(probs, self.top)
        weights = probs[top] / probs[top].sum()
        phrases = tuple(Phrase(self.lemmas[i], float(w), self.glosses[i]) for i, w in zip(top, weights))
        return Description(phrases, _weighted_query(self.class_vectors[top], weights), self.source)


class PhraseBankDecoder:
    """x* (dim,) in the shared space -> its nearest phrases of a bank, softmax-weighted.

    texts (m,) and vectors (m, dim) unit rows: the bank (e.g. "a photo of a <ImageNet class>"
    plus the concept's phrases, encoded by the same encoder's text tower).
    """

    source = "phrase-bank"

    def __init__(self, texts: Sequence[str], vectors: np.ndarray, *, scale: float = CLIP_LOGIT_SCALE,
                 top: int = DEFAULT_TOP) -> None:
        if len(texts) != len(vectors) or not len(texts):
            raise DimensionMismatchError("a phrase bank needs one vector per phrase, and at least one phrase")
        self.texts = list(texts)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.scale, self.top = scale, top

    def __repr__(self) -> str:
        return f"PhraseBankDecoder(phrases={len(self.texts)}, top={self.top})"

    def describe(self, features: np.ndarray) -> Description:
        x = l2_normalize(np.asarray(features, dtype=np.float32).reshape(1, -1))[0]
        if x.shape[0] != self.vectors.shape[1]:
            raise DimensionMismatchError(f"x* must be ({self.vectors.shape[1]},) in the shared space, got {x.shape}")
        cosines = self.vectors @ x
        top = _top(cosines, self.top)
        weights = _softmax(self.scale * cosines[top].astype(np.float64))
        phrases = tuple(Phrase(self.texts[i], float(w)) for i, w in zip(top, weights))
        return Description(phrases, _weighted_query(self.vectors[top], weights), self.source)
