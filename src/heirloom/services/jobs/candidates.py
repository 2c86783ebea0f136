"""Choosing among a job's candidates (domain/candidates.py) which one is its result.

The files live under the job's prefix (storage/keys.py candidate_key), so retention, erasure
and DELETE remove the unpicked ones with the result. Choosing only points the job's result at
another candidate's files: nothing is copied, and choosing again is harmless.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col

from heirloom.db.engine import Database
from heirloom.db.models import Job, utcnow
from heirloom.domain.candidates import find_candidate
from heirloom.domain.errors import Conflict, JobDeleted, NotFound, ResultExpired
from heirloom.domain.jobs import JobStatus


class CandidateChoice:
    """Makes one of a completed job's candidates its result."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def choose(self, user_id: str, job_id: str, candidate: int) -> Job:
        """Point the job's result at `candidate`'s files; NotFound for another user's job,
        410 once its files are gone, 409 before it completed. A job without candidates has
        one, candidate 1: its result."""
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.user_id != user_id:
                raise NotFound("No such job.")
            if job.status == JobStatus.EXPIRED:
                raise ResultExpired()
            if job.status == JobStatus.DELETED:
                raise JobDeleted()
            if job.status != JobStatus.COMPLETED:
                raise Conflict(f"The job is {job.status}; a candidate is chosen once it completed.")
            if job.candidate_results is None and candidate == 1:
                # A job without candidates has one, its result: already chosen.
                session.expunge(job)
                return job
            record = find_candidate(job.candidate_results, candidate)
            # Conditional on the status: a deletion or expiry that commits first wins.
            result = session.execute(
                sa.update(Job)
                .where(col(Job.id) == job_id, col(Job.status) == JobStatus.COMPLETED.value)
                .values(
                    result_key=record["result_key"],
                    thumbnail_key=record["thumbnail_key"],
                    comparison_key=record["comparison_key"],
                    width=record["width"],
                    height=record["height"],
                    provenance=record["provenance"],
                    chosen_candidate=candidate,
                    updated_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
            if not getattr(result, "rowcount", 0):
                raise Conflict("The job changed meanwhile; read it again.")
            session.flush()
            session.expire_all()
            chosen = session.get(Job, job_id)
            assert chosen is not None
            session.expunge(chosen)
            return chosen
