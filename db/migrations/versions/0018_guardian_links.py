"""the guardian's one-time answer link, and the guardian's number on record (issue 29)

``guardian_links``: one per guardian notice made since; the token is never stored, only its SHA-256.
``guardian_contacts``: the guardian's mobile number, sealed, for sending the link by SMS.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'guardian_links',
        sa.Column('link_id', sa.String(length=64), primary_key=True),
        sa.Column('case_id', sa.String(length=64), nullable=False),
        sa.Column('school_id', sa.String(length=64), nullable=False),
        sa.Column('event_seq', sa.Integer(), nullable=False),
        sa.Column('key_id', sa.String(length=64), nullable=False),
        sa.Column('document_id', sa.String(length=128), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('answer', sa.Text(), nullable=True),
        sa.Column('ended', sa.String(length=16), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_by', sa.String(length=64), nullable=True),
        sa.Column('sms_sent_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_guardian_links_case', 'guardian_links', ['case_id', 'created_at'])
    op.create_table(
        'guardian_contacts',
        sa.Column('case_id', sa.String(length=64), primary_key=True),
        sa.Column('phone', sa.Text(), nullable=False),
        sa.Column('recorded_by', sa.String(length=64), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('guardian_contacts')
    op.drop_index('ix_guardian_links_case', table_name='guardian_links')
    op.drop_table('guardian_links')
