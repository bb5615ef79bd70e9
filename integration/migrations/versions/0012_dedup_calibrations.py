"""dedup calibrations: each tenant's own EM estimate and last-name shares

Revision ID: 0012_dedup_calibrations
Revises: 0011_intake_submissions
Create Date: 2026-12-05 20:55:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012_dedup_calibrations'
down_revision = '0011_intake_submissions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dedup_calibrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('estimate', sa.JSON(), nullable=True),
    sa.Column('surnames', sa.JSON(), nullable=True),
    sa.Column('records_used', sa.Integer(), nullable=False),
    sa.Column('pairs_used', sa.Integer(), nullable=False),
    sa.Column('fitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_dedup_calibrations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dedup_calibrations')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_dedup_calibrations_tenant_id'))
    )
    with op.batch_alter_table('dedup_calibrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dedup_calibrations_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dedup_calibrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dedup_calibrations_tenant_id'))
    op.drop_table('dedup_calibrations')
