"""Signals other apps hook into without labeling importing them (labeling sits below
aggregation and modeling). Both are sent inside the transaction that stores the change,
so a receiver's writes commit or roll back with it, and a receiver may refuse the change
by raising (an ``APIException`` becomes the response).

answer_stored(sender=Answer, answer, assignment): a new answer was stored.
answer_retracted(sender=Answer, answer, assignment): an answer was retracted (undo).
"""

from django.dispatch import Signal

answer_stored = Signal()
answer_retracted = Signal()
