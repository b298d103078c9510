"""The job framework every app uses: Job rows, the registry of job functions, the
in-process and Celery runners, recovery of orphans, and the project event bus.

It sits below labeling, aggregation and modeling and imports none of them: apps register
their job functions (``jobs.registry.discover`` in their ``AppConfig.ready``) and the
Job row refers to its project by the model label ``"labeling.Project"``.

Entry points: ``jobs.services.enqueue`` / ``retry``, ``jobs.execution.run_job``,
``jobs.recovery.recover_orphans``, ``jobs.events.publish``.
"""
