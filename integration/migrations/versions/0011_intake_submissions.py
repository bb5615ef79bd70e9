"""intake keys and submissions: web-form capture

Revision ID: 0011_intake_submissions
Revises: 0010_rule_draft_edits
Create Date: 2026-12-05 17:55:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011_intake_submissions'
down_revision = '0010_rule_draft_edits'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('intake_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('key_enc', sa.LargeBinary(), nullable=False),
    sa.Column('secret_enc', sa.LargeBinary(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('allowed_origins', sa.JSON(), nullable=False),
    sa.Column('field_aliases', sa.JSON(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_intake_keys_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_intake_keys_key_hash'))
    )
    with op.batch_alter_table('intake_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_keys_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('intake_submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=40), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('spam_reason', sa.String(length=100), nullable=True),
    sa.Column('object_type', sa.String(length=32), nullable=True),
    sa.Column('record_id', sa.String(length=64), nullable=True),
    sa.Column('record_url', sa.String(length=500), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['intake_keys.id'], name=op.f('fk_intake_submissions_key_id_intake_keys'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_intake_submissions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_submissions')),
    sa.UniqueConstraint('public_id', name=op.f('uq_intake_submissions_public_id')),
    sa.UniqueConstraint('tenant_id', 'idempotency_key', name=op.f('uq_intake_submissions_tenant_id_idempotency_key'))
    )
    with op.batch_alter_table('intake_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_submissions_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_intake_submissions_tenant_received', ['tenant_id', 'received_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('intake_submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_intake_submissions_tenant_received')
        batch_op.drop_index(batch_op.f('ix_intake_submissions_tenant_id'))

    op.drop_table('intake_submissions')
    with op.batch_alter_table('intake_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_keys_tenant_id'))

    op.drop_table('intake_keys')
