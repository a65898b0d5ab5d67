"""rain measurements and suggestions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rain_stats',
        sa.Column('capture_id', sa.String(length=40), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('checkpoint', sa.String(length=64), nullable=True),
        sa.Column('algo', sa.Integer(), nullable=False),
        sa.Column('values', sa.JSON(), nullable=False),
        sa.Column('measured_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['capture_id'], ['captures.id']),
        sa.PrimaryKeyConstraint('capture_id', 'source'),
    )
    op.create_table(
        'suggestions',
        sa.Column('capture_id', sa.String(length=40), nullable=False),
        sa.Column('rain_type', sa.String(length=32), nullable=False),
        sa.Column('confidence', sa.Float(), nullable=False),
        sa.Column('model', sa.String(length=64), nullable=False),
        sa.Column('features', sa.String(length=16), nullable=False),
        sa.Column('info', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['capture_id'], ['captures.id']),
        sa.PrimaryKeyConstraint('capture_id'),
    )
    with op.batch_alter_table('label_timings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suggestion', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('label_timings', schema=None) as batch_op:
        batch_op.drop_column('suggestion')
    op.drop_table('suggestions')
    op.drop_table('rain_stats')
