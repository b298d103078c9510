"""Tune the offline encoder's ConSE settings on CIFAR-10: pick on a dev split, score on test.

Zero-shot retrieval: each of the 10 class names is a phrase; its vector ranks the images by
cosine; we report mean average precision over the 10 classes (mAP; chance ≈ .10) and mean
precision@100. The image model runs once per image: its 1,000 ImageNet logits are stored in
the embedding store, and every ConSE setting is re-derived from them here.

Swept: T ∈ {1,5,10,20,50,100,1000}, softmax temperature ∈ {1,2,4}, class-text form
(lemma, lemmas, photo, lemma_gloss), phrase form (raw, "a photo of a …").
Dev: --dev-per-class images per class drawn (seeded) from train.zip; test: all of test.zip.
Resolution (160 vs 224 px) and centre crop (timm's 0.875 vs none) are compared on the first
--res-per-class images per class of train (to choose) and of test (to report), each embedded
four times (subsets, because 224 px costs ~2-3x more; the sizes are printed).

Usage: .venv/bin/python benchmarks/conse_tuning.py [--dev-per-class 500] [--res-per-class 200]
       [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from modeling.engine.embedding import embed_source
from modeling.engine.encoders import create_encoder
from modeling.engine.encoders.conse import (
    CLASS_TEXT_FORMS,
    PHRASE_FORMS,
    class_text_vectors,
    conse_vectors,
)
from modeling.engine.encoders.minilm import minilm_encode
from modeling.engine.encoders.offline import DEFAULT_SETTINGS
from modeling.engine.encoders.paths import default_cache_dir, shared_data_dir
from modeling.engine.store import EmbeddingStore

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TOPS = (1, 5, 10, 20, 50, 100, 1000)
TEMPERATURES = (1.0, 2.0, 4.0)


@dataclass(frozen=True)
class Setting:
    top: int
    temperature: float
    class_text: str
    phrase: str


@dataclass(frozen=True)
class Score:
    mean_ap: float
    precision_at_100: float


def retrieval_scores(vectors: np.ndarray, labels: np.ndarray, queries: np.ndarray) -> Score:
    """mAP and mean P@100 of ranking ``vectors`` (n, d) by each class query (10, d)."""
    similarity = vectors @ queries.T
    aps, p100 = [], []
    for c in range(queries.shape[0]):
        hits = labels[np.argsort(-similarity[:, c], kind="stable")] == c
        ranks = np.flatnonzero(hits) + 1
        aps.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)))
        p100.append(float(hits[:100].mean()))
    return Score(float(np.mean(aps)), float(np.mean(p100)))


def logits_and_labels(store: EmbeddingStore, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    labels = np.array([CLASSES.index(key.split("/")[0]) for key in store.keys])
    logits = np.asarray(store.field("logits"), dtype=np.float32)
    if rows is None:
        return logits, labels
    return logits[rows], labels[rows]


def dev_rows(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]
    return np.sort(np.concatenate(picks))


def pool_store(zip_path: Path, name: str, **encoder_options: object) -> EmbeddingStore:
    encoder = create_encoder("offline", **encoder_options)
    out_dir = default_cache_dir().parent / "pools" / name
    result = embed_source(zip_path, encoder, out_dir)
    print(f"  {name}: {len(result.store)} images ({'reused' if result.from_cache else 'embedded now'})",
          flush=True)
    return result.store


def sweep(
    dev: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]
) -> dict[Setting, tuple[Score, Score]]:
    """(dev score, test score) of every setting."""
    cache = default_cache_dir() / "conse"
    phrases = {form: minilm_encode([PHRASE_FORMS[form](c) for c in CLASSES]) for form in PHRASE_FORMS}
    results: dict[Setting, tuple[Score, Score]] = {}
    for form in CLASS_TEXT_FORMS:
        table = class_text_vectors(form, minilm_encode, cache)
        for top, temperature in itertools.product(TOPS, TEMPERATURES):
            dev_v = conse_vectors(dev[0], table, top, temperature)
            test_v = conse_vectors(test[0], table, top, temperature)
            for phrase, queries in phrases.items():
                results[Setting(top, temperature, form, phrase)] = (
                    retrieval_scores(dev_v, dev[1], queries),
                    retrieval_scores(test_v, test[1], queries))
    return results


def subset_zip(split: str, per_class: int) -> Path:
    """The first ``per_class`` images of each class of a split, as a zip in the cache (made once)."""
    target = default_cache_dir() / "benchmarks" / f"cifar10-{split}-first{per_class}.zip"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with zipfile.ZipFile(shared_data_dir() / "cifar10" / f"{split}.zip") as src, \
            zipfile.ZipFile(tmp, "w") as out:
        for name in sorted(src.namelist()):
            if name.endswith(".jpg") and int(Path(name).stem) < per_class:
                out.writestr(name, src.read(name))
    tmp.replace(target)
    return target


IMAGE_VARIANTS = ((160, 0.875), (160, 1.0), (224, 0.875), (224, 1.0))  # (px, small-image crop)


def resolution_rows(split: str, per_class: int, settings: list[Setting]) -> list[dict[str, object]]:
    """mAP / P@100 of each setting at each (resolution, crop) on one subset of a split."""
    archive = subset_zip(split, per_class)
    rows = []
    stores = {(size, crop): pool_store(archive, f"cifar10-{split}-first{per_class}-res{size}-crop{crop}",
                                       resolution=size, crop_small=crop)
              for size, crop in IMAGE_VARIANTS}
    for setting in settings:
        table = class_text_vectors(setting.class_text, minilm_encode, default_cache_dir() / "conse")
        queries = minilm_encode([PHRASE_FORMS[setting.phrase](c) for c in CLASSES])
        for (size, crop), store in stores.items():
            logits, labels = logits_and_labels(store)
            score = retrieval_scores(conse_vectors(logits, table, setting.top, setting.temperature),
                                     labels, queries)
            rows.append({"split": split, "setting": asdict(setting), "resolution": size,
                         "crop_pct": crop, **asdict(score)})
    return rows


def print_table(title: str, results: dict[Setting, tuple[Score, Score]], keep: list[Setting]) -> None:
    print(f"\n{title}\n| T | temp | class text | phrase | dev mAP | test mAP | test P@100 |")
    print("|---|------|------------|--------|---------|----------|------------|")
    for s in keep:
        dev, test = results[s]
        print(f"| {s.top} | {s.temperature:g} | {s.class_text} | {s.phrase} | {dev.mean_ap:.3f} "
              f"| {test.mean_ap:.3f} | {test.precision_at_100:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev-per-class", type=int, default=500)
    parser.add_argument("--res-per-class", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = shared_data_dir() / "cifar10"
    print("embedding stores (default image settings; cached after the first run):", flush=True)
    train = pool_store(data / "train.zip", "cifar10-train")
    test_store = pool_store(data / "test.zip", "cifar10-test")
    train_labels = logits_and_labels(train)[1]
    dev = logits_and_labels(train, dev_rows(train_labels, args.dev_per_class, args.seed))
    test = logits_and_labels(test_store)
    results = sweep(dev, test)
    ranked = sorted(results, key=lambda s: -results[s][0].mean_ap)
    best = ranked[0]
    default = Setting(DEFAULT_SETTINGS.top, DEFAULT_SETTINGS.temperature,
                      DEFAULT_SETTINGS.class_text, DEFAULT_SETTINGS.phrase)
    print(f"\nCIFAR-10 zero-shot, dev = {len(dev[1])} train images, test = {len(test[1])}; "
          f"{len(results)} settings; chosen on dev mAP: {best}")
    print_table("Top 10 settings by dev mAP", results, ranked[:10])
    print_table(f"T sweep (temp {best.temperature:g}, {best.class_text}, {best.phrase})", results,
                [Setting(t, best.temperature, best.class_text, best.phrase) for t in TOPS])
    print_table(f"temperature sweep (T {best.top})", results,
                [Setting(best.top, t, best.class_text, best.phrase) for t in TEMPERATURES])
    print_table(f"class text x phrase (T {best.top}, temp {best.temperature:g})", results,
                [Setting(best.top, best.temperature, c, p) for c in CLASS_TEXT_FORMS for p in PHRASE_FORMS])
    print_table("current default (modeling/engine/encoders/offline.py OfflineSettings)", results, [default])
    compared = list(dict.fromkeys([best, default]))
    res = [row for split in ("train", "test") for row in resolution_rows(split, args.res_per_class, compared)]
    print(f"\nresolution x centre crop, first {args.res_per_class} images per class of each split "
          f"({10 * args.res_per_class} each; choose on train, report test; P@100 capped by "
          f"{args.res_per_class} positives)")
    print("| setting | px | crop | train-subset mAP | test-subset mAP | test-subset P@100 |")
    print("|---|---|---|---|---|---|")
    train_rows = [r for r in res if r["split"] == "train"]
    test_rows = [r for r in res if r["split"] == "test"]
    for dev_row, row in zip(train_rows, test_rows, strict=True):
        s = row["setting"]
        assert isinstance(s, dict)
        print(f"| T{s['top']} temp{s['temperature']:g} {s['class_text']} {s['phrase']} "
              f"| {row['resolution']} | {row['crop_pct']} | {dev_row['mean_ap']:.3f} "
              f"| {row['mean_ap']:.3f} | {row['precision_at_100']:.3f} |")
    if args.json:
        print(json.dumps({
            "benchmark": "conse_tuning", "dev_images": len(dev[1]), "test_images": len(test[1]),
            "chosen": asdict(best), "chosen_test": asdict(results[best][1]),
            "default": asdict(default), "default_test": asdict(results[default][1]),
            "settings": [{**asdict(s), "dev": asdict(results[s][0]), "test": asdict(results[s][1])}
                         for s in ranked],
            "resolution": res}))


if __name__ == "__main__":
    main()
