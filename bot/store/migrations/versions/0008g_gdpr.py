"""data protection: erased contacts and the erasures recorded by an HMAC of the address

Revision ID: 0008g
Revises: 0008m
Create Date: 2026-11-30
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0008g'
down_revision = "0008m"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contact') as batch:
        batch.add_column(sa.Column('erased_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_table('erasure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address_hmac', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_erasure_address_hmac'), 'erasure', ['address_hmac'], unique=False)
    op.create_index(op.f('ix_auditlog_actor'), 'auditlog', ['actor'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_auditlog_actor'), table_name='auditlog')
    op.drop_index(op.f('ix_erasure_address_hmac'), table_name='erasure')
    op.drop_table('erasure')
    with op.batch_alter_table('contact') as batch:
        batch.drop_column('erased_at')
