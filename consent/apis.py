"""The consent part of the management API: state, history, grant and withdraw, and
data subject requests. A site's own cookie banner or signup form can use it."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.models import ConsentSource, DataSubjectRequest, Decision, Purpose, RequestKind, RequestStatus
from consent.selectors import (
    can_email,
    can_personalize,
    can_track,
    consent_history,
    consent_state,
    data_request_get,
    preferences_url,
    unsubscribe_url,
)
from consent.services import consent_grant, consent_withdraw, data_request_create
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from core.http import request_actor, request_proof
from core.models import ApiKey
from personalization.selectors import customer_find
from personalization.services import customer_for_email

REFERENCE_FIELDS = ("customer_id", "email", "external_id")


def reference_of(attrs: dict) -> dict:
    return {name: attrs[name] for name in REFERENCE_FIELDS if name in attrs}


class CustomerReferenceSerializer(serializers.Serializer):
    """Name the person by exactly one of these."""

    customer_id = serializers.IntegerField(required=False)
    email = serializers.EmailField(required=False)
    external_id = serializers.CharField(required=False, max_length=255)

    def validate(self, attrs):
        if len(reference_of(attrs)) != 1:
            raise serializers.ValidationError("Name the customer by exactly one of customer_id, email or external_id.")
        return attrs


def _customer(reference: dict):
    customer = customer_find(**reference)
    if customer is None:
        raise NotFound(f"There is no customer with {next(iter(reference))} {next(iter(reference.values()))!r}.")
    return customer


class ConsentStateSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField()
    purposes = serializers.DictField(child=serializers.CharField(allow_null=True))
    topics = serializers.DictField(child=serializers.CharField(allow_null=True))
    frequency = serializers.CharField()
    paused_until = serializers.DateTimeField(allow_null=True)
    suppressed = serializers.BooleanField()
    can_email = serializers.BooleanField()
    can_track = serializers.BooleanField()
    can_personalize = serializers.BooleanField()
    unsubscribe_url = serializers.URLField()
    preferences_url = serializers.URLField()


@extend_schema(tags=["consent"])
class ConsentStateApi(APIView):
    """A person's consent now: each purpose and topic, preferences, suppression, and the decisions."""

    @extend_schema(parameters=[CustomerReferenceSerializer], responses=ConsentStateSerializer)
    def get(self, request):
        reference = CustomerReferenceSerializer(data=request.query_params)
        reference.is_valid(raise_exception=True)
        customer = _customer(reference.validated_data)
        state = consent_state(customer=customer)
        body = {
            **state.__dict__,
            "can_email": can_email(customer),
            "can_track": can_track(customer),
            "can_personalize": can_personalize(customer),
            "unsubscribe_url": unsubscribe_url(customer=customer),
            "preferences_url": preferences_url(customer=customer),
        }
        return Response(ConsentStateSerializer(body).data)


class TimelineEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    summary = serializers.CharField()
    source = serializers.CharField()
    actor = serializers.CharField()
    policy_version = serializers.CharField()
    wording = serializers.CharField()
    proof = serializers.DictField()


@extend_schema(tags=["consent"])
class ConsentHistoryApi(APIView):
    """Every decision and preference change of a person, newest first, with its proof."""

    @extend_schema(parameters=[CustomerReferenceSerializer], responses=TimelineEntrySerializer(many=True))
    def get(self, request):
        reference = CustomerReferenceSerializer(data=request.query_params)
        reference.is_valid(raise_exception=True)
        entries = consent_history(customer=_customer(reference.validated_data))
        return Response(TimelineEntrySerializer(entries, many=True).data)


class ProofSerializer(serializers.Serializer):
    ip = serializers.IPAddressField(required=False)
    user_agent = serializers.CharField(required=False, max_length=500)
    page = serializers.CharField(required=False, max_length=2000)
    form = serializers.CharField(required=False, max_length=200)


class DecisionSerializer(CustomerReferenceSerializer):
    purpose = serializers.ChoiceField(choices=Purpose.choices)
    topic = serializers.SlugField(required=False, allow_null=True)
    policy_version = serializers.CharField(max_length=50)
    wording = serializers.CharField(max_length=5000, help_text="The words the person saw.")
    source = serializers.ChoiceField(choices=ConsentSource.choices, default=ConsentSource.API)
    proof = ProofSerializer(required=False, help_text="Where the person decided; defaults to this API call.")


class RecordedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    customer_id = serializers.IntegerField()
    purpose = serializers.CharField()
    topic = serializers.CharField(source="topic.slug", allow_null=True, default=None)
    decision = serializers.CharField()
    source = serializers.CharField()
    recorded_at = serializers.DateTimeField()


class _DecisionApi(APIView):
    decision: str

    def post(self, request):
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        reference = reference_of(fields)
        if self.decision == Decision.GRANTED and "email" in reference and customer_find(**reference) is None:
            customer, _ = customer_for_email(email=reference["email"])
        else:
            customer = _customer(reference)
        record_decision = consent_grant if self.decision == Decision.GRANTED else consent_withdraw
        record = record_decision(
            customer=customer,
            purpose=fields["purpose"],
            topic=fields.get("topic"),
            source=fields["source"],
            actor=request_actor(request),
            policy_version=fields["policy_version"],
            wording=fields["wording"],
            proof=fields.get("proof") or request_proof(request, form="management API"),
        )
        return Response(RecordedSerializer(record).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["consent"], request=DecisionSerializer, responses={201: RecordedSerializer})
class ConsentGrantApi(_DecisionApi):
    """Record a yes. An unknown email address gets a new customer profile."""

    decision = Decision.GRANTED


@extend_schema(tags=["consent"], request=DecisionSerializer, responses={201: RecordedSerializer})
class ConsentWithdrawApi(_DecisionApi):
    """Record a no; it takes effect at once."""

    decision = Decision.WITHDRAWN


# --- data subject requests --------------------------------------------------------

PERMISSION_FOR = {RequestKind.EXPORT: "consent.export_subject_data", RequestKind.ERASURE: "consent.erase_subject"}


def _require_permission(request, kinds) -> None:
    """Programs with a secret key act for the shop; staff need the privacy officer's permission."""
    if isinstance(request.auth, ApiKey):
        return
    if not any(request.user.has_perm(PERMISSION_FOR[kind]) for kind in kinds):
        raise PermissionDenied("Only privacy officers may handle data subject requests.")


class RequestLogSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.CharField()
    message = serializers.CharField()


class DataRequestSerializer(serializers.ModelSerializer):
    log = RequestLogSerializer(many=True, read_only=True)

    class Meta:
        model = DataSubjectRequest
        fields = ["id", "kind", "status", "customer_id", "requested_by", "created_at", "started_at",
                  "completed_at", "failure", "log"]  # fmt: skip


class DataRequestCreateSerializer(CustomerReferenceSerializer):
    kind = serializers.ChoiceField(choices=RequestKind.choices)


@extend_schema(tags=["data subject requests"])
class DataRequestCreateApi(APIView):
    """Ask for a person's data (export) or for their erasure. The work runs in the background."""

    @extend_schema(request=DataRequestCreateSerializer, responses={202: DataRequestSerializer})
    def post(self, request):
        data = DataRequestCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        _require_permission(request, [fields["kind"]])
        created = data_request_create(
            kind=fields["kind"], customer=_customer(reference_of(fields)), requested_by=request_actor(request)
        )
        found = data_request_get(request_id=created.pk)
        return Response(DataRequestSerializer(found).data, status=status.HTTP_202_ACCEPTED)


def _request_or_404(request_id: int) -> DataSubjectRequest:
    found = data_request_get(request_id=request_id)
    if found is None:
        raise NotFound(f"There is no data subject request {request_id}.")
    return found


@extend_schema(tags=["data subject requests"])
class DataRequestDetailApi(APIView):
    """A request's status, times and audit trail."""

    @extend_schema(responses=DataRequestSerializer)
    def get(self, request, request_id: int):
        _require_permission(request, list(RequestKind))
        return Response(DataRequestSerializer(_request_or_404(request_id)).data)


@extend_schema(tags=["data subject requests"])
class DataRequestExportApi(APIView):
    """The export document of a completed export request."""

    @extend_schema(responses={200: dict})
    def get(self, request, request_id: int):
        _require_permission(request, [RequestKind.EXPORT])
        found = _request_or_404(request_id)
        if found.kind != RequestKind.EXPORT:
            raise ValidationError(f"Request {request_id} is an erasure; it has no export.")
        if found.status != RequestStatus.COMPLETED or found.document is None:
            raise Conflict(f"The export is not ready: the request is {found.get_status_display().lower()}.")
        return Response(found.document)
