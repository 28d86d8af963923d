"""outbox: content once, recipients apart (send jobs, shared content, parts)

A mail to many people stores what they share once: a relayed post's body is the
stored inbound mail (sendjob), an agenda's appendix is sharedcontent addressed by
its SHA-256 (outboxpart says where it goes). Rows queued before this revision hold
their whole text in outboxmessage.raw, which is still a valid outbox row: a row
without a job and without parts is sent as it stands, so they go out unchanged.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sharedcontent',
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )
    op.create_table('sendjob',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('network_slug', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('inbound_id', sa.Integer(), nullable=False),
    sa.Column('body_offset', sa.Integer(), nullable=False),
    sa.Column('head', sa.LargeBinary(), nullable=False),
    sa.Column('body_headers', sa.LargeBinary(), nullable=False),
    sa.Column('boundary', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['inbound_id'], ['inboundmessage.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sendjob', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sendjob_inbound_id'), ['inbound_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sendjob_network_slug'), ['network_slug'], unique=False)
    op.create_table('outboxpart',
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('offset', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['outbox_id'], ['outboxmessage.id'], ),
    sa.PrimaryKeyConstraint('outbox_id', 'position')
    )
    with op.batch_alter_table('outboxpart', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outboxpart_sha256'), ['sha256'], unique=False)
    with op.batch_alter_table('outboxmessage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('job_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('token', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default=''))
        batch_op.create_index(batch_op.f('ix_outboxmessage_job_id'), ['job_id'], unique=False)
        batch_op.create_foreign_key('fk_outboxmessage_job_id_sendjob', 'sendjob', ['job_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('outboxmessage', schema=None) as batch_op:
        batch_op.drop_constraint('fk_outboxmessage_job_id_sendjob', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_outboxmessage_job_id'))
        batch_op.drop_column('token')
        batch_op.drop_column('job_id')
    with op.batch_alter_table('outboxpart', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outboxpart_sha256'))
    op.drop_table('outboxpart')
    with op.batch_alter_table('sendjob', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sendjob_network_slug'))
        batch_op.drop_index(batch_op.f('ix_sendjob_inbound_id'))
    op.drop_table('sendjob')
    op.drop_table('sharedcontent')
