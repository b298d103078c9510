"""The labeling data model: people and their work, scoped by a Project."""

from labeling.models.answers import Answer, Assignment, Batch, Label
from labeling.models.concepts import AssessmentItem, AssessmentSet, Concept, TaskTemplate, TemplateExample
from labeling.models.pools import Item, Pool
from labeling.models.projects import Cohort, Membership, Project

__all__ = [
    "Answer", "AssessmentItem", "AssessmentSet", "Assignment", "Batch", "Cohort", "Concept",
    "Item", "Label", "Membership", "Pool", "Project", "TaskTemplate", "TemplateExample",
]
