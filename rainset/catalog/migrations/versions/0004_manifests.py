"""manifests tables

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'split_assignments',
        sa.Column('capture_id', sa.String(length=40), nullable=False),
        sa.Column('seed', sa.Integer(), nullable=False),
        sa.Column('split', sa.String(length=16), nullable=False),
        sa.Column('group_key', sa.String(length=40), nullable=False),
        sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['capture_id'], ['captures.id']),
        sa.PrimaryKeyConstraint('capture_id', 'seed'),
    )
    op.create_table(
        'split_moves',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('capture_id', sa.String(length=40), nullable=False),
        sa.Column('seed', sa.Integer(), nullable=False),
        sa.Column('from_split', sa.String(length=16), nullable=False),
        sa.Column('to_split', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('moved_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['capture_id'], ['captures.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('split_moves', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_split_moves_capture_id'), ['capture_id'], unique=False)
    op.create_table(
        'removals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('capture_id', sa.String(length=40), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('removed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['capture_id'], ['captures.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('removals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_removals_capture_id'), ['capture_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('removals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_removals_capture_id'))
    op.drop_table('removals')
    with op.batch_alter_table('split_moves', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_split_moves_capture_id'))
    op.drop_table('split_moves')
    op.drop_table('split_assignments')
