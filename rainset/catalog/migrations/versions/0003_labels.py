"""labels tables

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'assignments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('capture_id', sa.String(length=40), nullable=False),
        sa.Column('slot', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['capture_id'], ['captures.id']),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('capture_id', 'slot', name='uq_assignments_capture_slot'),
        sa.UniqueConstraint('capture_id', 'user_id', name='uq_assignments_capture_user'),
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignments_capture_id'), ['capture_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_user_id'), ['user_id'], unique=False)
    op.create_table(
        'label_timings',
        sa.Column('label_id', sa.Integer(), nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['label_id'], ['labels.id']),
        sa.PrimaryKeyConstraint('label_id'),
    )


def downgrade() -> None:
    op.drop_table('label_timings')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignments_user_id'))
        batch_op.drop_index(batch_op.f('ix_assignments_capture_id'))
    op.drop_table('assignments')
