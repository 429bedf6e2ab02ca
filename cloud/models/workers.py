"""Worker liveness: each worker loop records its last completed pass (readiness, desk banner)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, created_at_column

# The loops whose silence means nobody is watching (cloud/worker.py).
WATCH_LOOPS = ("detect", "escalate", "mail")


class WorkerPass(Base):
    """One row per (worker process, loop), updated after each completed pass."""

    __tablename__ = "worker_passes"

    worker_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    loop: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_pass_at: Mapped[datetime] = mapped_column(index=True)
    passes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()
