"""held posts: moderation by the secretary, by reply or from the command line

Revision ID: 0008m
Revises: 0008c
Create Date: 2026-11-30
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0008m'
down_revision = "0008c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('heldpost',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inbound_id', sa.Integer(), nullable=False),
    sa.Column('network_slug', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('sender', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('sender_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('tell_sender', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('held_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('requested_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('digested_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('decision_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['inbound_id'], ['inboundmessage.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('inbound_id')
    )
    with op.batch_alter_table('heldpost', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_heldpost_network_slug'), ['network_slug'], unique=False)
        batch_op.create_index(batch_op.f('ix_heldpost_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('heldpost', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_heldpost_status'))
        batch_op.drop_index(batch_op.f('ix_heldpost_network_slug'))
    op.drop_table('heldpost')
