"""sla_timers.escalation_step is now step: it numbers cadence steps as well as escalation steps

Revision ID: 0008_timer_step
Revises: 0007_console_identities
Create Date: 2026-12-05 15:00:00
"""
from alembic import op

revision = '0008_timer_step'
down_revision = '0007_console_identities'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sla_timers', schema=None) as batch_op:
        batch_op.alter_column('escalation_step', new_column_name='step')


def downgrade() -> None:
    with op.batch_alter_table('sla_timers', schema=None) as batch_op:
        batch_op.alter_column('step', new_column_name='escalation_step')
