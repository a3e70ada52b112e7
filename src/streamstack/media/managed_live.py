"""Managed live (live_encoder = "medialive"): submits media/medialive.py's requests, one channel per live stream.

What `MediaConvertEncoder` is to VOD: the app creates, starts, stops and deletes each stream's MediaLive
input and channel and its MediaPackage v2 channel and origin endpoint, and submits the harvest job of a
finished recording; MediaLive's and MediaPackage's EventBridge events tell the catalog what happened
(live/managed.py). Every create is idempotent: MediaPackage's names are unique in the group (a ConflictException
means it is there) and its ClientToken, and MediaLive's RequestId, are derived from the stream, so a retried
request makes nothing twice. The catalog keeps the ids MediaLive answers with, each recorded as soon as it is
answered (live/provisioning.py), so nothing is ever looked up by listing (ListInputs and ListChannels cannot be
limited to this deployment's resources, and are not granted).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from streamstack.aws import client, error_code
from streamstack.media.medialive import (
    ManagedLiveNames,
    SimulcastDestination,
    build_create_channel,
    build_create_harvest_job,
    build_create_input,
    build_create_mediapackage_channel,
    build_create_origin_endpoint,
    build_origin_endpoint_policy,
    build_update_channel,
    input_destinations,
    plan_managed_live,
)
from streamstack.settings import Settings

log = logging.getLogger("streamstack.media.managed_live")

GONE = frozenset({"NotFoundException", "ResourceNotFoundException"})
EXISTS = frozenset({"ConflictException"})
RUNNING_STATES = frozenset({"STARTING", "RUNNING", "RECOVERING"})
SETTLING_TO_IDLE = frozenset({"CREATING", "STOPPING", "UPDATING"})  # transitions that end IDLE
WAIT = {"Delay": 5, "MaxAttempts": 60}  # a channel stops or deletes within a minute or two


@dataclass(frozen=True)
class ManagedChannel:
    """What the catalog keeps of a stream's AWS resources (live_streams.managed)."""

    input_id: str
    channel_id: str
    channel_arn: str
    rtmp_url: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ManagedChannel:
        return cls(str(value["input_id"]), str(value["channel_id"]), str(value["channel_arn"]), value.get("rtmp_url"))


class ManagedLive(Protocol):
    """A live encoder run by a service: one channel per stream, its state reported by events."""

    name: str

    def create(self, *, live_stream_id: str, stream_key: str, low_latency: bool, session_seconds: int,
               record: Callable[..., None], simulcast: Sequence[SimulcastDestination] = ()) -> ManagedChannel: ...

    def start(self, channel: ManagedChannel) -> None: ...

    def stop(self, channel: ManagedChannel) -> None: ...

    def rekey(self, channel: ManagedChannel, stream_key: str) -> None: ...

    def retarget(self, *, live_stream_id: str, channel: ManagedChannel, low_latency: bool,
                 simulcast: Sequence[SimulcastDestination]) -> None: ...

    def delete(self, *, live_stream_id: str, input_id: str | None, channel_id: str | None) -> None: ...

    def harvest(self, *, live_stream_id: str, asset_id: str, start: datetime, end: datetime) -> None: ...


def rtmp_server_url(destination: dict[str, Any]) -> str | None:
    """rtmp://ip:1935/live/<key> -> rtmp://ip:1935/live: what OBS calls the server (the key is appended)."""
    url = destination.get("Url")
    return str(url).rsplit("/", 1)[0] if url else None


class MediaLiveManagedLive:
    """MediaLive (RTMP_PUSH in, the live ladder out) into MediaPackage v2 (LL-HLS and HLS, harvests to S3)."""

    name = "medialive"

    def __init__(self, settings: Settings, *, medialive_client: Any = None, mediapackage_client: Any = None) -> None:
        missing = [n for n in ("medialive_role_arn", "medialive_input_security_group", "mediapackage_channel_group")
                   if not getattr(settings, n)]  # fmt: skip
        if missing:
            raise ValueError(f"live_encoder=medialive needs {', '.join('STREAMSTACK_' + n.upper() for n in missing)}")
        self.settings = settings
        self.medialive_client = medialive_client or client("medialive", settings)
        self.mediapackagev2_client = mediapackage_client or client("mediapackagev2", settings)

    def names(self, live_stream_id: str) -> ManagedLiveNames:
        group = str(self.settings.mediapackage_channel_group)
        return ManagedLiveNames(prefix=group, channel_group=group, live_stream_id=live_stream_id)

    # --- create ------------------------------------------------------------------------------------

    def create(self, *, live_stream_id: str, stream_key: str, low_latency: bool, session_seconds: int,
               record: Callable[..., None], simulcast: Sequence[SimulcastDestination] = ()) -> ManagedChannel:
        """MediaPackage first (the channel pushes into it), then the input, then the channel.

        `session_seconds` (the stream's session limit) sizes what the endpoint keeps for the recording's harvest;
        `simulcast` are the RTMP destinations the channel also pushes to. `record(input_id=...)` and
        `record(channel_id=...)` are called as soon as MediaLive answers, before anything else is asked of it:
        whoever cleans up a create that stopped half-way (a refusal, or a process that died) deletes by them."""
        names = self.names(live_stream_id)
        plan = plan_managed_live(self.settings, low_latency=low_latency)
        channel_request = build_create_mediapackage_channel(names=names)
        endpoint_request = build_create_origin_endpoint(names=names, plan=plan, session_seconds=session_seconds)
        self._create_or_find(lambda: self.mediapackagev2_client.create_channel(**channel_request))
        self._create_or_find(lambda: self.mediapackagev2_client.create_origin_endpoint(**endpoint_request))
        self.mediapackagev2_client.put_origin_endpoint_policy(**build_origin_endpoint_policy(
            names=names, role_arn=str(self.settings.medialive_role_arn), region=self.settings.aws_region,
            distribution_arn=self.settings.cdn_distribution_arn))  # fmt: skip
        made_input = self.medialive_client.create_input(**build_create_input(
            names=names, stream_key=stream_key, security_group_id=str(self.settings.medialive_input_security_group),
        ))["Input"]  # fmt: skip
        record(input_id=made_input["Id"])
        channel = self.medialive_client.create_channel(**build_create_channel(
            names=names, input_id=made_input["Id"], plan=plan, role_arn=str(self.settings.medialive_role_arn),
            simulcast=simulcast,
        ))["Channel"]  # fmt: skip
        record(channel_id=channel["Id"])
        destinations = made_input.get("Destinations") or [{}]
        return ManagedChannel(made_input["Id"], channel["Id"], channel["Arn"], rtmp_server_url(destinations[0]))

    @staticmethod
    def _create_or_find(create: Callable[[], Any]) -> None:
        """MediaPackage names are unique in their group: a ConflictException means it is there already."""
        try:
            create()
        except Exception as exc:
            if error_code(exc) not in EXISTS:
                raise

    # --- run ---------------------------------------------------------------------------------------

    def start(self, channel: ManagedChannel) -> None:
        """Publishers can push once the channel runs (MediaLive bills while it does)."""
        if self._settled_state(channel.channel_id) not in RUNNING_STATES:
            self.medialive_client.start_channel(ChannelId=channel.channel_id)

    def stop(self, channel: ManagedChannel) -> None:
        """Stops the channel; its Channel State Change ends the session (live/managed.py)."""
        self._stop(channel.channel_id)

    def rekey(self, channel: ManagedChannel, stream_key: str) -> None:
        """The input takes the new key only (the old one is refused)."""
        self._while_stopped(channel, lambda: self.medialive_client.update_input(
            InputId=channel.input_id, Destinations=input_destinations(stream_key)))  # fmt: skip

    def retarget(self, *, live_stream_id: str, channel: ManagedChannel, low_latency: bool,
                 simulcast: Sequence[SimulcastDestination]) -> None:
        """The channel pushes to exactly these simulcast destinations from its next start (the definition is sent
        whole, as planned at creation, with the new RTMP outputs)."""
        request = build_update_channel(channel_id=channel.channel_id, names=self.names(live_stream_id),
                                       input_id=channel.input_id, role_arn=str(self.settings.medialive_role_arn),
                                       plan=plan_managed_live(self.settings, low_latency=low_latency),
                                       simulcast=simulcast)  # fmt: skip

        def update() -> None:
            self.medialive_client.update_channel(**request)
            # UPDATING, then IDLE again: StartChannel is refused until then.
            self.medialive_client.get_waiter("channel_stopped").wait(ChannelId=channel.channel_id, WaiterConfig=WAIT)

        self._while_stopped(channel, update)

    def _while_stopped(self, channel: ManagedChannel, change: Callable[[], None]) -> None:
        """MediaLive changes an input or a channel only while the channel is idle: a running channel is stopped,
        changed, and started again (seconds to a minute; the API refuses this while a publisher is live)."""
        was_running = self._settled_state(channel.channel_id) in RUNNING_STATES
        if was_running:
            self.medialive_client.stop_channel(ChannelId=channel.channel_id)
            self.medialive_client.get_waiter("channel_stopped").wait(ChannelId=channel.channel_id, WaiterConfig=WAIT)
        try:
            change()
        finally:  # a refused change leaves the channel as it was, running for the next publisher
            if was_running:
                self.medialive_client.start_channel(ChannelId=channel.channel_id)

    def _settled_state(self, channel_id: str) -> str:
        """The channel's state once a transition towards IDLE has ended: MediaLive refuses StartChannel,
        UpdateInput and UpdateChannel mid-way. A STOPPING channel (disable, complete, a session's end) is waited for
        and stays stopped: its state change event starts it again where the stream is enabled."""
        state = str(self.medialive_client.describe_channel(ChannelId=channel_id)["State"])
        if state in SETTLING_TO_IDLE:
            # channel_stopped has no acceptor for UPDATING: it polls on through it until IDLE
            waiter = "channel_created" if state == "CREATING" else "channel_stopped"
            self.medialive_client.get_waiter(waiter).wait(ChannelId=channel_id, WaiterConfig=WAIT)
            return "IDLE"
        return state

    def _stop(self, channel_id: str) -> None:
        if self.medialive_client.describe_channel(ChannelId=channel_id)["State"] in RUNNING_STATES:
            self.medialive_client.stop_channel(ChannelId=channel_id)

    # --- delete ------------------------------------------------------------------------------------

    def delete(self, *, live_stream_id: str, input_id: str | None, channel_id: str | None) -> None:
        """In the order AWS requires: stop the channel, delete it, delete its input, the endpoint, the MP channel.

        The MediaLive ids are the catalog's (the stream's, or a create's record of what it had made by the time it
        stopped); the MediaPackage parts are found by name, and any not made yet answers not found."""
        names = self.names(live_stream_id)
        if channel_id is not None:
            self._ignore_gone(self._delete_channel, channel_id)
        if input_id is not None:
            self._ignore_gone(lambda: self.medialive_client.delete_input(InputId=input_id))
        group, name = names.channel_group, names.channel
        self._ignore_gone(lambda: self.mediapackagev2_client.delete_origin_endpoint(
            ChannelGroupName=group, ChannelName=name, OriginEndpointName=names.endpoint))  # fmt: skip
        self._ignore_gone(lambda: self.mediapackagev2_client.delete_channel(ChannelGroupName=group, ChannelName=name))

    def _delete_channel(self, channel_id: str) -> None:
        self._stop(channel_id)
        self.medialive_client.get_waiter("channel_stopped").wait(ChannelId=channel_id, WaiterConfig=WAIT)
        self.medialive_client.delete_channel(ChannelId=channel_id)
        self.medialive_client.get_waiter("channel_deleted").wait(ChannelId=channel_id, WaiterConfig=WAIT)

    @staticmethod
    def _ignore_gone(action: Any, *args: Any) -> None:
        """A delete retried after a partial failure finds some parts gone already."""
        try:
            action(*args)
        except Exception as exc:
            if error_code(exc) not in GONE:
                raise
            log.info("already gone", extra={"code": error_code(exc)})

    # --- live-to-VOD -------------------------------------------------------------------------------

    def harvest(self, *, live_stream_id: str, asset_id: str, start: datetime, end: datetime) -> None:
        """The session's window to the recordings bucket under the asset's prefix; its notification readies it."""
        request = build_create_harvest_job(names=self.names(live_stream_id), asset_id=asset_id,
                                           bucket=self.settings.s3_bucket, start=start, end=end)  # fmt: skip
        self._create_or_find(lambda: self.mediapackagev2_client.create_harvest_job(**request))


def open_managed_live(settings: Settings) -> ManagedLive | None:
    """MediaLive for live_encoder=medialive; None for the ffmpeg ingest."""
    return MediaLiveManagedLive(settings) if settings.live_encoder == "medialive" else None
