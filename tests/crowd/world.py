"""A small crowd world: project "Tuna" with an expert (ann), a manager (max), six workers
(w1..w6) in cohort "day", one outsider worker (zed, not in the cohort), and a pool of 30
items whose keys say the truth ("yes/…" or "no/…", never shown to workers). The expert has
labelled 8 of them (4 yes, 4 no): the gold items of the assessment set."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labeling.choices import LabelSource, Role
from labeling.models import Cohort, Concept, Item, Label, Membership, Pool, Project
from tests.people import make_images, make_user

GOLD = 8
ITEMS = 30


@dataclass
class CrowdWorld:
    project: Project
    ann: Any
    max: Any
    workers: list[Any]
    zed: Any
    cohort: Cohort
    pool: Pool
    concept: Concept
    items: list[Item]
    truth: dict[int, bool]

    @property
    def gold(self) -> list[Item]:
        return self.items[:GOLD]

    @property
    def work(self) -> list[Item]:
        return self.items[GOLD:]


def build_crowd_world(image_dir: Path, workers: int = 6) -> CrowdWorld:
    ann, manager, zed = make_user("ann"), make_user("max"), make_user("zed")
    crowd = [make_user(f"w{i + 1}") for i in range(workers)]
    project = Project.objects.create(name="Tuna", created_by=manager)
    for user, role in [(ann, Role.EXPERT), (manager, Role.MANAGER), (zed, Role.WORKER)] + [
            (w, Role.WORKER) for w in crowd]:
        Membership.objects.create(project=project, user=user, role=role)
    cohort = Cohort.objects.create(project=project, name="day")
    cohort.workers.add(*crowd)
    keys = [f"{'yes' if i % 2 == 0 else 'no'}/{i:04d}-{uuid.uuid4().hex[:6]}.png" for i in range(ITEMS)]
    make_images(image_dir, keys)
    pool = Pool.objects.create(project=project, name="market", source=str(image_dir), status="ready")
    items = [Item.objects.create(pool=pool, key=key, row=i) for i, key in enumerate(keys)]
    concept = Concept.objects.create(project=project, owner=ann, name="gourmet tuna")
    truth = {item.pk: item.key.startswith("yes/") for item in items}
    for item in items[:GOLD]:
        Label.objects.create(item=item, concept=concept, value=truth[item.pk], source=LabelSource.EXPERT,
                             method="expert")
    return CrowdWorld(project, ann, manager, crowd, zed, cohort, pool, concept, items, truth)
