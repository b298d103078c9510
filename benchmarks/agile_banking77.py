"""Agile loop on banking77 with the MiniLM text encoder: a truly shared space.

Pool = ``banking77/train.csv`` (10,003 texts), evaluation = ``test.csv`` (3,080), both
embedded once by all-MiniLM-L6-v2 and cached under ``var/cache/banking77``. Phrases come
from intent names with underscores replaced; concepts are single intents and unions.
The classifier trains on the same 384-d MiniLM vectors that expansion and zero-shot use.
The same report as ``agile_cifar10.py``: zero-shot vs round 0 vs AL rounds, strategies.
``--calibrate`` measures MiniLM's zero-shot calibration on the train split over
twenty intents that no benchmark concept uses.

    .venv/bin/python benchmarks/agile_banking77.py [--seeds 0,1] [--json]
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agile_cifar10 import (
    Dataset,
    calibrate,
    json_safe,
    merge_outputs,
    parse_args,
    run_benchmark,
    train_configs,
)

from modeling.engine.encoders import create_encoder
from modeling.engine.encoders.paths import default_cache_dir, shared_data_dir
from modeling.engine.index import build_index
from modeling.engine.simulation import PoolArrays
from modeling.engine.zero_shot import calibration_for

BANKING_CONCEPTS: dict[str, list[str]] = {
    "card arrival": ["card_arrival"],
    "lost or stolen card": ["lost_or_stolen_card"],
    "exchange rate": ["exchange_rate"],
    "refund": ["request_refund", "Refund_not_showing_up"],
    "cash withdrawal problems": [
        "cash_withdrawal_charge",
        "cash_withdrawal_not_recognised",
        "declined_cash_withdrawal",
        "pending_cash_withdrawal",
        "wrong_amount_of_cash_received",
    ],
    "top up problems": ["pending_top_up", "top_up_failed", "top_up_reverted", "verify_top_up"],
    "identity verification": [
        "unable_to_verify_identity",
        "verify_my_identity",
        "why_verify_identity",
    ],
    "card payment problems": [
        "card_payment_fee_charged",
        "card_payment_not_recognised",
        "card_payment_wrong_exchange_rate",
        "declined_card_payment",
        "pending_card_payment",
    ],
}
# Dev intents for --calibrate: none of them is in a benchmark concept.
DEV_INTENTS = [
    "activate_my_card",
    "apple_pay_or_google_pay",
    "atm_support",
    "automatic_top_up",
    "beneficiary_not_allowed",
    "cancel_transfer",
    "card_about_to_expire",
    "change_pin",
    "contactless_not_working",
    "country_support",
    "edit_personal_details",
    "exchange_charge",
    "failed_transfer",
    "get_physical_card",
    "passcode_forgotten",
    "pin_blocked",
    "receiving_money",
    "terminate_account",
    "transfer_timing",
    "visa_or_mastercard",
]


def read_split(path: Path) -> tuple[list[str], list[str]]:
    """(texts, categories) of one CSV with columns ``text,category``."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def cached_text_vectors(path: Path, texts: list[str]) -> np.ndarray:
    """MiniLM vectors (n, 384) float32 of ``texts``, cached by the file's sha256 and encoder key."""
    encoder = create_encoder("minilm")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:24]
    tag = hashlib.sha256(encoder.key.encode()).hexdigest()[:12]
    cache = default_cache_dir() / "banking77" / f"{digest}-{tag}.npy"
    if cache.exists():
        return np.load(cache)
    print(f"embedding {len(texts)} texts of {path.name} with MiniLM", file=sys.stderr)
    vectors = encoder.encode_texts(texts).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(cache)
    return vectors


def load_banking77() -> Dataset:
    """Pool (train) and evaluation (test) arrays; features are the MiniLM vectors."""
    root = shared_data_dir() / "banking77"
    parts = []
    for split in ("train", "test"):
        texts, categories = read_split(root / f"{split}.csv")
        vectors = cached_text_vectors(root / f"{split}.csv", texts)
        parts.append((PoolArrays(vectors, vectors), np.asarray(categories)))
    (pool, pool_labels), (evaluation, eval_labels) = parts
    encoder = create_encoder("minilm")
    return Dataset(
        pool,
        pool_labels,
        evaluation,
        eval_labels,
        [f"test.csv/{i:05d}" for i in range(len(eval_labels))],  # row number: a stable key
        build_index(pool.vectors),
        encoder.encode_texts,
        calibration_for("minilm"),
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv, BANKING_CONCEPTS)
    if args.merge:
        merged = merge_outputs(args.merge, "agile_banking77")
        if args.json:
            print(json.dumps(json_safe(merged)))
        return
    data = load_banking77()
    if args.calibrate:
        dev = {intent.replace("_", " "): [intent] for intent in DEV_INTENTS}
        cal = calibrate(data, dev, "measured: banking77 train split, 20 dev intents")
        print(repr(cal))
        if args.json:
            print(json.dumps({"center": cal.center, "scale": cal.scale, "source": cal.source}))
        return
    config = train_configs(args)
    result = run_benchmark(data, args, BANKING_CONCEPTS, "agile_banking77", config)
    if args.json:
        print(json.dumps(json_safe(result)))


if __name__ == "__main__":
    main()
