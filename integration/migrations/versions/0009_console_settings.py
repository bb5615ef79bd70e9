"""agency invites serve many portals until revoked or expired: revoked_at, the code kept encrypted, one row a use

Revision ID: 0009_console_settings
Revises: 0008_timer_step
Create Date: 2026-12-05 17:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_console_settings'
down_revision = '0008_timer_step'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agency_invites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('code_enc', sa.LargeBinary(), nullable=True))

    op.create_table('agency_invite_uses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invite_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=True),
    sa.Column('tenant_name', sa.String(length=200), nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_by', sa.Integer(), nullable=True),
    sa.Column('used_by_email', sa.String(length=320), nullable=False),
    sa.ForeignKeyConstraint(['invite_id'], ['agency_invites.id'], name=op.f('fk_agency_invite_uses_invite_id_agency_invites'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_agency_invite_uses_tenant_id_tenants'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['used_by'], ['console_users.id'], name=op.f('fk_agency_invite_uses_used_by_console_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agency_invite_uses'))
    )
    with op.batch_alter_table('agency_invite_uses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agency_invite_uses_invite_id'), ['invite_id'], unique=False)

    # an invite used before this revision was issued as single-use: its one use is recorded, and it stays spent
    op.execute("INSERT INTO agency_invite_uses (invite_id, tenant_id, tenant_name, platform, used_at, used_by_email) "
               "SELECT i.id, i.tenant_id, COALESCE(t.name, ''), COALESCE(t.platform, ''), i.used_at, '' "
               "FROM agency_invites i LEFT JOIN tenants t ON t.id = i.tenant_id WHERE i.used_at IS NOT NULL")
    op.execute("UPDATE agency_invites SET revoked_at = used_at WHERE used_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('agency_invite_uses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agency_invite_uses_invite_id'))
    op.drop_table('agency_invite_uses')
    with op.batch_alter_table('agency_invites', schema=None) as batch_op:
        batch_op.drop_column('code_enc')
        batch_op.drop_column('revoked_at')
