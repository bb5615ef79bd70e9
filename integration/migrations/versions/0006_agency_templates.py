"""agency rule-set templates

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-25 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
# 0005 (cadences) was not in the tree when this was written: re-point to '0005' once it lands
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agency_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('rollouts', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_agency_templates_agency_id_agencies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agency_templates')),
    sa.UniqueConstraint('agency_id', 'name', name=op.f('uq_agency_templates_agency_id_name'))
    )
    with op.batch_alter_table('agency_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agency_templates_agency_id'), ['agency_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('agency_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agency_templates_agency_id'))

    op.drop_table('agency_templates')
