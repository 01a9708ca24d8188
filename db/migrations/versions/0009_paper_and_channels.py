"""paper, channels and extreme events: document forms, the per-channel outbox, signed copies,
authorities, incidents

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_s = sqlmodel.sql.sqltypes.AutoString


def _ts(name, nullable=False):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', _s(length=8), nullable=False, server_default='zh-CN'))
    op.create_table('authorities',
    sa.Column('authority_id', _s(length=64), nullable=False),
    sa.Column('name', _s(length=200), nullable=False),
    sa.Column('level', _s(length=16), nullable=False),
    sa.Column('schools', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('authority_id')
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('incident_id', _s(length=64), nullable=True))
        batch_op.add_column(sa.Column('school_id', _s(length=64), nullable=True))
        batch_op.add_column(sa.Column('language', _s(length=8), nullable=False, server_default='zh-CN'))
        batch_op.add_column(sa.Column('forms', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.alter_column('case_id', existing_type=_s(length=64), nullable=True)
        batch_op.create_index('ix_documents_incident_id', ['incident_id'], unique=False)
    op.execute("UPDATE documents SET school_id = (SELECT cases.school_id FROM cases WHERE cases.case_id = documents.case_id)")
    op.execute("UPDATE documents SET school_id = '' WHERE school_id IS NULL")
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.alter_column('school_id', existing_type=_s(length=64), nullable=False)
    op.create_table('signed_copies',
    sa.Column('copy_id', _s(length=64), nullable=False),
    sa.Column('document_id', _s(length=160), nullable=False),
    sa.Column('case_id', _s(length=64), nullable=False),
    sa.Column('media_type', _s(length=32), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', _s(length=64), nullable=False),
    sa.Column('path', _s(length=500), nullable=False),
    sa.Column('uploaded_by', _s(length=64), nullable=False),
    _ts('uploaded_at'),
    sa.Column('records', _s(length=32), nullable=True),
    sa.PrimaryKeyConstraint('copy_id')
    )
    op.create_index('ix_signed_copies_document_id', 'signed_copies', ['document_id'], unique=False)
    op.create_table('deliveries',
    sa.Column('delivery_id', _s(length=64), nullable=False),
    sa.Column('notification_id', _s(length=160), nullable=False),
    sa.Column('case_id', _s(length=64), nullable=True),
    sa.Column('school_id', _s(length=64), nullable=False),
    sa.Column('recipient', _s(length=100), nullable=False),
    sa.Column('channel', _s(length=16), nullable=False),
    sa.Column('status', _s(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', _s(length=300), nullable=True),
    _ts('created_at'),
    _ts('last_attempt_at', True),
    _ts('sent_at', True),
    sa.PrimaryKeyConstraint('delivery_id')
    )
    op.create_index('ix_deliveries_notification_id', 'deliveries', ['notification_id'], unique=False)
    op.create_index('ix_deliveries_status', 'deliveries', ['status', 'created_at'], unique=False)
    op.create_index('ix_deliveries_school_status', 'deliveries', ['school_id', 'status'], unique=False)
    op.create_table('incidents',
    sa.Column('incident_id', _s(length=64), nullable=False),
    sa.Column('school_id', _s(length=64), nullable=False),
    sa.Column('case_id', _s(length=64), nullable=True),
    sa.Column('kind', _s(length=32), nullable=False),
    _ts('occurred_at'),
    sa.Column('place', sa.Text(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('recorded_by', _s(length=64), nullable=False),
    _ts('recorded_at'),
    _ts('due_at'),
    sa.Column('state', _s(length=16), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('report', sa.Text(), nullable=False),
    sa.Column('report_chars', sa.Integer(), nullable=False),
    _ts('submitted_at', True),
    sa.Column('submitted_by', _s(length=64), nullable=True),
    sa.Column('document_id', _s(length=160), nullable=True),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('incident_id')
    )
    op.create_index('ix_incidents_school_state', 'incidents', ['school_id', 'state'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_incidents_school_state', table_name='incidents')
    op.drop_table('incidents')
    op.drop_index('ix_deliveries_school_status', table_name='deliveries')
    op.drop_index('ix_deliveries_status', table_name='deliveries')
    op.drop_index('ix_deliveries_notification_id', table_name='deliveries')
    op.drop_table('deliveries')
    op.drop_index('ix_signed_copies_document_id', table_name='signed_copies')
    op.drop_table('signed_copies')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index('ix_documents_incident_id')
        batch_op.drop_column('forms')
        batch_op.drop_column('language')
        batch_op.drop_column('school_id')
        batch_op.drop_column('incident_id')
    op.drop_table('authorities')
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.drop_column('language')
