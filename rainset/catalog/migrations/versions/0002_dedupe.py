"""dedupe tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('captures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flags', sa.JSON(), nullable=False, server_default='[]'))
    op.create_table(
        'dedupe_pairs',
        sa.Column('a', sa.String(40), sa.ForeignKey('captures.id'), primary_key=True),
        sa.Column('b', sa.String(40), sa.ForeignKey('captures.id'), primary_key=True),
        sa.Column('distance', sa.Integer(), nullable=False),
        sa.Column('relation', sa.String(24), nullable=False),
        sa.Column('score', sa.Float(), nullable=False),
        sa.Column('corr', sa.Float(), nullable=False),
    )
    op.create_index('ix_dedupe_pairs_b', 'dedupe_pairs', ['b'])
    op.create_table(
        'dedupe_indexed',
        sa.Column('capture_id', sa.String(40), sa.ForeignKey('captures.id'), primary_key=True),
        sa.Column('sha256', sa.String(64), nullable=False),
        sa.Column('threshold', sa.Integer(), nullable=False),
    )
    op.create_table(
        'dedupe_corrections',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('kind', sa.String(24), nullable=False),
        sa.Column('captures', sa.JSON(), nullable=False),
        sa.Column('others', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('info', sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('dedupe_corrections')
    op.drop_table('dedupe_indexed')
    op.drop_index('ix_dedupe_pairs_b', table_name='dedupe_pairs')
    op.drop_table('dedupe_pairs')
    with op.batch_alter_table('captures', schema=None) as batch_op:
        batch_op.drop_column('flags')
