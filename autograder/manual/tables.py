"""The manual-grading store's own tables, beside nbgrader's in the same database (SQLAlchemy Core,
created on first open by `store.ManualGrading`; only portable types, so SQLite and PostgreSQL
behave alike). Every row is scoped by nbgrader's course, assignment and notebook, and our
question label.
"""
from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

WHO_MAX = 200
"""Characters of who made a change, as stored."""
ID_WIDTH = 128  # nbgrader's own column width for course, assignment, notebook and student ids
metadata = MetaData()


def _scope_columns() -> list[Column]:
    """Which answers a row is about: nbgrader's course, assignment and notebook, and our question label."""
    return [Column("course_id", String(ID_WIDTH), nullable=False), Column("assignment", String(ID_WIDTH), nullable=False),
            Column("notebook", String(ID_WIDTH), nullable=False), Column("question", String(32), nullable=False)]



def _changed_columns() -> list[Column]:
    """Who made a row's last change, as stored (`states.who_as_stored`), and when (naive UTC)."""
    return [Column("by", String(WHO_MAX)), Column("at", DateTime)]

ITEMS = Table(
    "alexnet_lab_items", metadata, *_scope_columns(),
    Column("item_id", String(40), nullable=False),
    Column("position", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("points", Float), Column("score", Float),
    Column("comment", Text, nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
    Column("deleted", Boolean, nullable=False, default=False),  # a tombstone: the master's seed does not bring it back
    *_changed_columns(),
    UniqueConstraint("course_id", "assignment", "notebook", "question", "item_id", name="alexnet_lab_items_key"),
)
ANSWERS = Table(
    "alexnet_lab_answers", metadata, *_scope_columns(),
    Column("student", String(ID_WIDTH), nullable=False),
    Column("version", Integer, nullable=False, default=0),
    Column("note", Text, nullable=False, default=""),
    # What this store last wrote to nbgrader's Grade/Comment (or found there): a difference is a
    # change made outside the page.
    Column("last_score", Float), Column("last_comment", Text),
    Column("outside", Boolean, nullable=False, default=False),
    *_changed_columns(),
    UniqueConstraint("course_id", "assignment", "notebook", "question", "student", name="alexnet_lab_answers_key"),
)
APPLIED = Table(
    "alexnet_lab_applied", metadata, *_scope_columns(),
    Column("student", String(ID_WIDTH), nullable=False),
    Column("item_id", String(40), nullable=False),
    UniqueConstraint("course_id", "assignment", "notebook", "question", "student", "item_id",
                     name="alexnet_lab_applied_key"),
    ForeignKeyConstraint(["course_id", "assignment", "notebook", "question", "item_id"],
                         [ITEMS.c.course_id, ITEMS.c.assignment, ITEMS.c.notebook, ITEMS.c.question, ITEMS.c.item_id],
                         name="alexnet_lab_applied_item"),
)
GROUPS = Table(
    "alexnet_lab_groups", metadata, *_scope_columns(),
    Column("group_key", String(40), nullable=False),
    Column("kind", String(16), nullable=False),
    *_changed_columns(),
    UniqueConstraint("course_id", "assignment", "notebook", "question", "group_key", name="alexnet_lab_groups_key"),
)
MEMBERS = Table(
    "alexnet_lab_members", metadata, *_scope_columns(),
    Column("student", String(ID_WIDTH), nullable=False),
    Column("group_key", String(40), nullable=False),
    *_changed_columns(),
    UniqueConstraint("course_id", "assignment", "notebook", "question", "student", name="alexnet_lab_members_key"),
)
LOG = Table(
    "alexnet_lab_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True), *_scope_columns(),
    Column("student", String(ID_WIDTH)), Column("item_id", String(40)),
    Column("action", String(32), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("by", String(WHO_MAX)), Column("at", DateTime, nullable=False),
)
