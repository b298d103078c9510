"""The named people every API test speaks of, and the small world they work in.

Project "Fish" holds: ann (expert, owns the concept), eve (another expert), bob and cat
(workers in different cohorts), max (manager). Project "Birds" is managed by oli, who is
an outsider to Fish. Item keys look like ``tuna/0001.png`` on purpose: a key names the
class, so a worker must never see one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from PIL import Image

from aggregation.models import Collection, CollectionItem, Decision, WorkerSkill
from jobs.models import Job
from labeling.choices import AnswerValue, BatchKind, LabelSource, Role
from labeling.models import (
    Answer,
    AssessmentItem,
    AssessmentSet,
    Assignment,
    Batch,
    Cohort,
    Concept,
    Item,
    Label,
    Membership,
    Pool,
    Project,
    TaskTemplate,
    TemplateExample,
)
from labeling.services import submit_answer
from modeling.models import ModelVersion

PASSWORD = "correct horse battery staple"


@dataclass
class World:
    ann: Any
    eve: Any
    bob: Any
    cat: Any
    max: Any
    oli: Any
    fish: Project
    birds: Project
    pool: Pool
    items: list[Item]
    concept: Concept
    other_concept: Concept
    template: TaskTemplate
    test_example: TemplateExample
    assessment: AssessmentSet
    crowd_batch: Batch
    expert_batch: Batch
    bob_assignment: Assignment
    cat_assignment: Assignment
    ann_assignment: Assignment
    cat_answer: Answer
    label: Label
    model_version: ModelVersion
    job: Job
    cohort_a: Cohort
    cohort_b: Cohort
    collection: Collection
    skill: WorkerSkill
    decision: Decision


def make_user(username: str) -> Any:
    return get_user_model().objects.create_user(username=username, password=PASSWORD)


def make_images(folder: Path, keys: list[str]) -> None:
    for index, key in enumerate(keys):
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (40 * index % 255, 90, 160)).save(path)


def build_world(image_dir: Path) -> World:
    people = {name: make_user(name) for name in ("ann", "eve", "bob", "cat", "max", "oli")}
    fish = Project.objects.create(name="Fish", created_by=people["max"])
    birds = Project.objects.create(name="Birds", created_by=people["oli"])
    roles = [("ann", Role.EXPERT), ("eve", Role.EXPERT), ("bob", Role.WORKER), ("cat", Role.WORKER),
             ("max", Role.MANAGER)]
    for name, role in roles:
        Membership.objects.create(project=fish, user=people[name], role=role)
    Membership.objects.create(project=birds, user=people["oli"], role=Role.MANAGER)
    cohort_a = Cohort.objects.create(project=fish, name="A")
    cohort_a.workers.add(people["bob"])
    cohort_b = Cohort.objects.create(project=fish, name="B")
    cohort_b.workers.add(people["cat"])

    keys = ["tuna/0001.png", "tuna/0002.png", "other/0003.png", "other/0004.png", "tuna/0005.png"]
    make_images(image_dir, keys)
    pool = Pool.objects.create(project=fish, name="market", source=str(image_dir))
    items = [Item.objects.create(pool=pool, key=key, row=i) for i, key in enumerate(keys)]

    concept = Concept.objects.create(project=fish, owner=people["ann"], name="gourmet tuna",
                                     positive_phrases=["sashimi grade tuna"], negative_phrases=["canned tuna"])
    other_concept = Concept.objects.create(project=birds, owner=people["oli"], name="heron")
    template = TaskTemplate.objects.create(concept=concept, question="Is this gourmet tuna?",
                                           description="Deep red, glossy cuts.", created_by=people["ann"])
    TemplateExample.objects.create(template=template, item=items[0], is_positive=True, note="Glossy red cut.")
    test_example = TemplateExample.objects.create(template=template, item=items[2], is_positive=False,
                                                  note="Look closely.", is_test=True)
    assessment = AssessmentSet.objects.create(concept=concept, name="gold", created_by=people["ann"])
    AssessmentItem.objects.create(assessment_set=assessment, item=items[1], expected=True)
    AssessmentItem.objects.create(assessment_set=assessment, item=items[3], expected=False)

    crowd = Batch.objects.create(concept=concept, kind=BatchKind.CROWD, template=template, cohort=cohort_a,
                                 created_by=people["ann"])
    expert = Batch.objects.create(concept=concept, kind=BatchKind.EXPERT_RATING, selection="expansion",
                                  created_by=people["ann"])
    bob_assignment = Assignment.objects.create(batch=crowd, item=items[1], assignee=people["bob"])
    cat_assignment = Assignment.objects.create(batch=crowd, item=items[3], assignee=people["cat"], position=1)
    ann_assignment = Assignment.objects.create(batch=expert, item=items[4], assignee=people["ann"])
    cat_answer, _ = submit_answer(worker=people["cat"], assignment=cat_assignment, value=AnswerValue.NO,
                                  client_id=uuid.uuid4(), seconds=2.5)
    label = Label.objects.create(item=items[0], concept=concept, value=True, source=LabelSource.EXPERT,
                                 method="expert")
    model_version = ModelVersion.objects.create(concept=concept, number=1, label_count=1)
    job = Job.objects.create(project=fish, kind="embed_pool", params={"pool": pool.pk}, status=Job.Status.SUCCEEDED,
                             created_by=people["ann"])
    collected = Batch.objects.create(concept=concept, kind=BatchKind.CROWD, template=template, cohort=cohort_a,
                                     created_by=people["ann"], selection="items")
    collection = Collection.objects.create(batch=collected, method="mv", onboarding=0, gold_rate=0.0)
    CollectionItem.objects.create(collection=collection, item=items[2], position=0)
    skill = WorkerSkill.objects.create(concept=concept, worker=people["bob"], cohort=cohort_a, status="active")
    decision = Decision.objects.create(collection=collection, item=items[2], method="mv", value=False,
                                       posterior_yes=0.0, confidence=1.0, n_answers=1, inputs=[])
    return World(fish=fish, birds=birds, pool=pool, items=items, concept=concept, other_concept=other_concept,
                 template=template, test_example=test_example, assessment=assessment, crowd_batch=crowd,
                 expert_batch=expert, bob_assignment=bob_assignment, cat_assignment=cat_assignment,
                 ann_assignment=ann_assignment, cat_answer=cat_answer, label=label, model_version=model_version,
                 job=job, cohort_a=cohort_a, cohort_b=cohort_b, collection=collection, skill=skill,
                 decision=decision, **people)


def build_elsewhere(user: Any, image_dir: Path, name: str = "Elsewhere") -> dict[type, Any]:
    """A project where ``user`` is manager and expert, holding one object of every kind:
    what someone would try to move the objects of Fish into. Keyed by model."""
    project = Project.objects.create(name=name, created_by=user)
    for role in (Role.MANAGER, Role.EXPERT):
        Membership.objects.create(project=project, user=user, role=role)
    make_images(image_dir, ["elsewhere.png"])
    pool = Pool.objects.create(project=project, name="there", source=str(image_dir))
    item = Item.objects.create(pool=pool, key="elsewhere.png", row=0)
    concept = Concept.objects.create(project=project, owner=user, name="elsewhere")
    template = TaskTemplate.objects.create(concept=concept, question="There?", created_by=user)
    assessment = AssessmentSet.objects.create(concept=concept, name="there", created_by=user)
    cohort = Cohort.objects.create(project=project, name="there")
    batch = Batch.objects.create(concept=concept, kind=BatchKind.CROWD, created_by=user)
    assignment = Assignment.objects.create(batch=batch, item=item, assignee=user)
    collection = Collection.objects.create(batch=batch, method="mv", onboarding=0, gold_rate=0.0)
    CollectionItem.objects.create(collection=collection, item=item, position=0)
    skill = WorkerSkill.objects.create(concept=concept, worker=user, cohort=cohort, status="active")
    return {Project: project, Pool: pool, Item: item, Concept: concept, TaskTemplate: template,
            AssessmentSet: assessment, Cohort: cohort, Batch: batch, Assignment: assignment,
            Collection: collection, WorkerSkill: skill}
