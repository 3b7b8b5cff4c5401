"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 05:41:59.095451
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "agency",
        sa.Column("agency_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("lang", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("agency_id"),
    )
    op.create_table(
        "calendardate",
        sa.Column("service_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("exception_type", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("service_id", "service_date"),
    )
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("reservation_id", sa.Uuid(), nullable=True),
        sa.Column("vehicle_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("route_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("stop_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_incident_reservation_id"), ["reservation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_incident_route_id"), ["route_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_stop_id"), ["stop_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_vehicle_id"), ["vehicle_id"], unique=False)

    op.create_table(
        "networkmeta",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "outboxmessage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reservation_id", sa.Uuid(), nullable=True),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("qos", sa.Integer(), nullable=False),
        sa.Column("retain", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outboxmessage_not_before"), ["not_before"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outboxmessage_reservation_id"), ["reservation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outboxmessage_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "processedevent",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "rider",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rider", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rider_token_hash"), ["token_hash"], unique=True)

    op.create_table(
        "route",
        sa.Column("route_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("agency_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("short_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("short_name_en", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("long_name_zh", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("long_name_en", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("route_type", sa.Integer(), nullable=False),
        sa.Column("color", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("text_color", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("tts_name_zh", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("tts_name_en", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("route_id"),
    )
    op.create_table(
        "servicecalendar",
        sa.Column("service_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("monday", sa.Boolean(), nullable=False),
        sa.Column("tuesday", sa.Boolean(), nullable=False),
        sa.Column("wednesday", sa.Boolean(), nullable=False),
        sa.Column("thursday", sa.Boolean(), nullable=False),
        sa.Column("friday", sa.Boolean(), nullable=False),
        sa.Column("saturday", sa.Boolean(), nullable=False),
        sa.Column("sunday", sa.Boolean(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("service_id"),
    )
    op.create_table(
        "shapepoint",
        sa.Column("shape_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("dist_traveled", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("shape_id", "sequence"),
    )
    op.create_table(
        "stop",
        sa.Column("stop_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name_zh", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name_en", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("tts_name_zh", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("tts_name_en", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("search_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("parent_station", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("wheelchair_boarding", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("stop_id"),
    )
    with op.batch_alter_table("stop", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stop_search_key"), ["search_key"], unique=False)

    op.create_table(
        "reservation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("rider_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "ASSIGNED",
                "ACKNOWLEDGED",
                "ARRIVING",
                "AT_STOP",
                "BOARDED",
                "RIDING",
                "ALIGHTING",
                "MISSED",
                "COMPLETED",
                "CANCELLED",
                "NO_SHOW",
                "EXPIRED",
                name="reservationstatus",
            ),
            nullable=False,
        ),
        sa.Column("stop_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("route_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("direction_id", sa.Integer(), nullable=False),
        sa.Column(
            "destination_stop_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        ),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("vehicle_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("stop_sequence", sa.Integer(), nullable=True),
        sa.Column("eta_s", sa.Integer(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rider_lang", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("missed_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ack_overdue", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rider_id"],
            ["rider.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reservation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reservation_rider_id"), ["rider_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reservation_route_id"), ["route_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reservation_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_reservation_stop_id"), ["stop_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reservation_vehicle_id"), ["vehicle_id"], unique=False)

    op.create_table(
        "routedirection",
        sa.Column("route_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("direction_id", sa.Integer(), nullable=False),
        sa.Column("headsign_zh", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("headsign_en", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["route_id"],
            ["route.route_id"],
        ),
        sa.PrimaryKeyConstraint("route_id", "direction_id"),
    )
    op.create_table(
        "routestop",
        sa.Column("route_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("direction_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("stop_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["route_id"],
            ["route.route_id"],
        ),
        sa.ForeignKeyConstraint(
            ["stop_id"],
            ["stop.stop_id"],
        ),
        sa.PrimaryKeyConstraint("route_id", "direction_id", "position"),
    )
    with op.batch_alter_table("routestop", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routestop_stop_id"), ["stop_id"], unique=False)

    op.create_table(
        "trip",
        sa.Column("trip_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("route_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("service_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("direction_id", sa.Integer(), nullable=False),
        sa.Column("headsign_zh", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("headsign_en", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("shape_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(
            ["route_id"],
            ["route.route_id"],
        ),
        sa.PrimaryKeyConstraint("trip_id"),
    )
    with op.batch_alter_table("trip", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trip_route_id"), ["route_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trip_service_id"), ["service_id"], unique=False)

    op.create_table(
        "idempotencyrecord",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rider_id", sa.Uuid(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reservation_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservation.id"],
        ),
        sa.ForeignKeyConstraint(
            ["rider_id"],
            ["rider.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rider_id", "key"),
    )
    with op.batch_alter_table("idempotencyrecord", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotencyrecord_rider_id"), ["rider_id"], unique=False
        )

    op.create_table(
        "reservationevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reservation_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "ASSIGNED",
                "ACKNOWLEDGED",
                "ARRIVING",
                "AT_STOP",
                "BOARDED",
                "RIDING",
                "ALIGHTING",
                "MISSED",
                "COMPLETED",
                "CANCELLED",
                "NO_SHOW",
                "EXPIRED",
                name="reservationstatus",
            ),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reservationevent", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reservationevent_reservation_id"), ["reservation_id"], unique=False
        )

    op.create_table(
        "stoptime",
        sa.Column("trip_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("stop_sequence", sa.Integer(), nullable=False),
        sa.Column("stop_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("arrival_s", sa.Integer(), nullable=False),
        sa.Column("departure_s", sa.Integer(), nullable=False),
        sa.Column("shape_dist_traveled", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["stop_id"],
            ["stop.stop_id"],
        ),
        sa.ForeignKeyConstraint(
            ["trip_id"],
            ["trip.trip_id"],
        ),
        sa.PrimaryKeyConstraint("trip_id", "stop_sequence"),
    )
    with op.batch_alter_table("stoptime", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stoptime_stop_id"), ["stop_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("stoptime", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stoptime_stop_id"))

    op.drop_table("stoptime")
    with op.batch_alter_table("reservationevent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reservationevent_reservation_id"))

    op.drop_table("reservationevent")
    with op.batch_alter_table("idempotencyrecord", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotencyrecord_rider_id"))

    op.drop_table("idempotencyrecord")
    with op.batch_alter_table("trip", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trip_service_id"))
        batch_op.drop_index(batch_op.f("ix_trip_route_id"))

    op.drop_table("trip")
    with op.batch_alter_table("routestop", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routestop_stop_id"))

    op.drop_table("routestop")
    op.drop_table("routedirection")
    with op.batch_alter_table("reservation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reservation_vehicle_id"))
        batch_op.drop_index(batch_op.f("ix_reservation_stop_id"))
        batch_op.drop_index(batch_op.f("ix_reservation_status"))
        batch_op.drop_index(batch_op.f("ix_reservation_route_id"))
        batch_op.drop_index(batch_op.f("ix_reservation_rider_id"))

    op.drop_table("reservation")
    with op.batch_alter_table("stop", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stop_search_key"))

    op.drop_table("stop")
    op.drop_table("shapepoint")
    op.drop_table("servicecalendar")
    op.drop_table("route")
    with op.batch_alter_table("rider", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rider_token_hash"))

    op.drop_table("rider")
    op.drop_table("processedevent")
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outboxmessage_sent_at"))
        batch_op.drop_index(batch_op.f("ix_outboxmessage_reservation_id"))
        batch_op.drop_index(batch_op.f("ix_outboxmessage_not_before"))

    op.drop_table("outboxmessage")
    op.drop_table("networkmeta")
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_vehicle_id"))
        batch_op.drop_index(batch_op.f("ix_incident_stop_id"))
        batch_op.drop_index(batch_op.f("ix_incident_route_id"))
        batch_op.drop_index(batch_op.f("ix_incident_reservation_id"))
        batch_op.drop_index(batch_op.f("ix_incident_kind"))
        batch_op.drop_index(batch_op.f("ix_incident_at"))

    op.drop_table("incident")
    op.drop_table("calendardate")
    op.drop_table("agency")
