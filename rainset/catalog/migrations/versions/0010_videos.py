"""videos: one row per ingested video file; captures gain video_sha256, frame_index, frame_pts (video frames)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'videos',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('uri', sa.Text(), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('mtime', sa.Float(), nullable=True),
        sa.Column('storage', sa.String(length=8), nullable=False),
        sa.Column('container', sa.String(length=8), nullable=False),
        sa.Column('codec', sa.String(length=32), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('rotation', sa.Integer(), nullable=False),
        sa.Column('fps', sa.Float(), nullable=True),
        sa.Column('duration', sa.Float(), nullable=True),
        sa.Column('frame_count', sa.Integer(), nullable=True),
        sa.Column('frames_decoded', sa.Integer(), nullable=False),
        sa.Column('frames_kept', sa.Integer(), nullable=False),
        sa.Column('make', sa.Text(), nullable=True),
        sa.Column('model', sa.Text(), nullable=True),
        sa.Column('creation_time', sa.String(length=40), nullable=True),
        sa.Column('gps_lat', sa.Float(), nullable=True),
        sa.Column('gps_lon', sa.Float(), nullable=True),
        sa.Column('gps_alt', sa.Float(), nullable=True),
        sa.Column('sampling', sa.JSON(), nullable=False),
        sa.Column('warnings', sa.JSON(), nullable=False),
        sa.Column('duplicate_of', sa.Integer(), nullable=True),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['ingest_runs.id'], name=op.f('fk_videos_run_id_ingest_runs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_videos')),
        sa.UniqueConstraint('uri', name=op.f('uq_videos_uri')),
    )
    op.create_index('ix_videos_sha256', 'videos', ['sha256'], unique=False)
    with op.batch_alter_table('captures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('video_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('frame_index', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('frame_pts', sa.Float(), nullable=True))
        batch_op.create_index('ix_captures_video_sha256', ['video_sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('captures', schema=None) as batch_op:
        batch_op.drop_index('ix_captures_video_sha256')
        batch_op.drop_column('frame_pts')
        batch_op.drop_column('frame_index')
        batch_op.drop_column('video_sha256')
    op.drop_index('ix_videos_sha256', table_name='videos')
    op.drop_table('videos')
