"""rule_set_versions.updated_at / updated_by: the working draft is edited in place, so who changed it last and when

Revision ID: 0010_rule_draft_edits
Revises: 0009_console_settings
Create Date: 2026-12-05 17:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010_rule_draft_edits'
down_revision = '0009_console_settings'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rule_set_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('updated_by', sa.String(length=320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rule_set_versions', schema=None) as batch_op:
        batch_op.drop_column('updated_by')
        batch_op.drop_column('updated_at')
