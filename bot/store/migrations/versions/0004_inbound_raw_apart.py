"""a received mail's bytes live apart from its row (inboundraw)

SQLite rewrites a whole row, blob and all, on every UPDATE. Handling a mail updates
its row (subject, outcome, state), so a 14 MB post was written to the WAL again each
time. The bytes move to their own table, written once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inboundraw',
    sa.Column('inbound_id', sa.Integer(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['inbound_id'], ['inboundmessage.id'], ),
    sa.PrimaryKeyConstraint('inbound_id')
    )
    op.execute("INSERT INTO inboundraw (inbound_id, raw) SELECT id, raw FROM inboundmessage")
    with op.batch_alter_table('inboundmessage', schema=None) as batch_op:
        batch_op.drop_column('raw')


def downgrade() -> None:
    with op.batch_alter_table('inboundmessage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw', sa.LargeBinary(), nullable=False, server_default=b''))
    op.execute("UPDATE inboundmessage SET raw = (SELECT raw FROM inboundraw WHERE inbound_id = inboundmessage.id)")
    op.drop_table('inboundraw')
