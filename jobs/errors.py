"""Errors of the job framework; the API turns them into its one error shape."""


class JobStateError(Exception):
    """The job is not in a state that allows the request (e.g. retrying a running job)."""
