"""the staff app's sign-in: accounts (password hash, sealed TOTP secret, invitation), sessions, failed sign-ins

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_s = sqlmodel.sql.sqltypes.AutoString


def _ts(name, nullable=False):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table('staff_accounts',
    sa.Column('staff_id', _s(length=64), nullable=False),
    sa.Column('password_hash', _s(length=300), nullable=True),
    _ts('password_set_at', True),
    sa.Column('totp_secret', sa.Text(), nullable=True),
    _ts('totp_confirmed_at', True),
    sa.Column('totp_last_step', sa.Integer(), nullable=True),
    sa.Column('invite_sha256', _s(length=64), nullable=True),
    _ts('invite_expires_at', True),
    _ts('updated_at'),
    sa.PrimaryKeyConstraint('staff_id')
    )
    op.create_index('ix_staff_accounts_invite_sha256', 'staff_accounts', ['invite_sha256'], unique=False)
    op.create_table('web_sessions',
    sa.Column('session_sha256', _s(length=64), nullable=False),
    sa.Column('stage', _s(length=16), nullable=False),
    sa.Column('staff_id', _s(length=64), nullable=True),
    sa.Column('role', _s(length=32), nullable=True),
    sa.Column('school_id', _s(length=64), nullable=True),
    sa.Column('csrf', _s(length=64), nullable=False),
    sa.Column('address', _s(length=64), nullable=True),
    _ts('created_at'),
    _ts('last_seen_at'),
    sa.PrimaryKeyConstraint('session_sha256')
    )
    op.create_index('ix_web_sessions_staff', 'web_sessions', ['staff_id'], unique=False)
    op.create_index('ix_web_sessions_last_seen_at', 'web_sessions', ['last_seen_at'], unique=False)
    op.create_table('signin_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    _ts('at'),
    sa.Column('staff_id', _s(length=64), nullable=False),
    sa.Column('address', _s(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_signin_failures_staff', 'signin_failures', ['staff_id', 'at'], unique=False)
    op.create_index('ix_signin_failures_address', 'signin_failures', ['address', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_signin_failures_address', table_name='signin_failures')
    op.drop_index('ix_signin_failures_staff', table_name='signin_failures')
    op.drop_table('signin_failures')
    op.drop_index('ix_web_sessions_last_seen_at', table_name='web_sessions')
    op.drop_index('ix_web_sessions_staff', table_name='web_sessions')
    op.drop_table('web_sessions')
    op.drop_index('ix_staff_accounts_invite_sha256', table_name='staff_accounts')
    op.drop_table('staff_accounts')
