"""The segments API: thin adapters over segments' services and selectors."""

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ValidationError
from personalization.apis import CustomerSerializer
from personalization.models import Segment, SegmentKind
from personalization.segments.rules import Explanation, rules_describe
from personalization.segments.selectors import (
    customer_segments,
    segment_get,
    segment_list,
    segment_members,
    segment_preview,
    segment_why,
)
from personalization.segments.services import segment_delete, segment_refresh, segment_save
from personalization.selectors import customer_get


class SegmentSerializer(serializers.ModelSerializer):
    size = serializers.IntegerField(source="member_count", read_only=True)
    rules_text = serializers.SerializerMethodField(help_text="The rules in words.")

    class Meta:
        model = Segment
        fields = [
            "id", "name", "description", "kind", "rules", "rules_text", "built_in", "is_active", "size",
            "refresh_status", "refreshed_at", "refresh_seconds", "refresh_error", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["kind", "built_in"]

    def get_rules_text(self, segment) -> str:
        return rules_describe(segment.rules) if segment.rules else segment.description


class SegmentWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    rules = serializers.JSONField(help_text="The rule tree; see the README's Segments section.")
    is_active = serializers.BooleanField(required=False, default=True)


def _saved(serializer_data: dict, segment: Segment | None) -> Segment:
    with transaction.atomic():
        return segment_save(segment=segment, **serializer_data)


@extend_schema(tags=["segments"])
class SegmentListApi(generics.ListAPIView):
    """Segments with their size and freshness; POST creates one (its membership follows at once)."""

    serializer_class = SegmentSerializer

    def get_queryset(self):
        return segment_list()

    @extend_schema(request=SegmentWriteSerializer, responses={201: SegmentSerializer})
    def post(self, request):
        data = SegmentWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        segment = _saved(data.validated_data, None)
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["segments"])
class SegmentDetailApi(APIView):
    """One segment; PATCH changes it, DELETE removes it (its membership history with it)."""

    @extend_schema(responses=SegmentSerializer)
    def get(self, request, segment_id: int):
        return Response(SegmentSerializer(segment_get(segment_id=segment_id)).data)

    @extend_schema(request=SegmentWriteSerializer, responses=SegmentSerializer)
    def patch(self, request, segment_id: int):
        segment = segment_get(segment_id=segment_id)
        current = {"name": segment.name, "description": segment.description, "rules": segment.rules,
                   "is_active": segment.is_active}  # fmt: skip
        # partial: a body that is not an object is refused as such, and what it leaves out is kept
        data = SegmentWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(SegmentSerializer(_saved({**current, **data.validated_data}, segment)).data)

    def delete(self, request, segment_id: int):
        segment_delete(segment=segment_get(segment_id=segment_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["segments"], request=None, responses=SegmentSerializer)
class SegmentRefreshApi(APIView):
    """Recompute the segment's membership in full now."""

    def post(self, request, segment_id: int):
        segment = segment_get(segment_id=segment_id)
        if segment.kind == SegmentKind.CLUSTER:
            # segment_refresh would record the cluster as failed, though its clustering is fine
            raise ValidationError("Cluster segments are refreshed by re-running their clustering.")
        return Response(SegmentSerializer(segment_refresh(segment=segment)).data)


@extend_schema(tags=["segments"])
class SegmentMembersApi(generics.ListAPIView):
    """The segment's current members, newest customers first."""

    serializer_class = CustomerSerializer

    def get_queryset(self):
        return segment_members(segment=segment_get(segment_id=self.kwargs["segment_id"]))


class PreviewRequestSerializer(serializers.Serializer):
    rules = serializers.JSONField()


class PreviewSerializer(serializers.Serializer):
    size = serializers.IntegerField()
    sample = CustomerSerializer(many=True)


@extend_schema(tags=["segments"], request=PreviewRequestSerializer, responses=PreviewSerializer)
class SegmentPreviewApi(APIView):
    """The audience that rules would select now, without saving them: its size and a sample."""

    def post(self, request):
        data = PreviewRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(PreviewSerializer(segment_preview(rules=data.validated_data["rules"])).data)


class ExplanationSerializer(serializers.Serializer):
    text = serializers.CharField()
    holds = serializers.BooleanField()
    observed = serializers.CharField()
    node = serializers.JSONField()
    children = serializers.SerializerMethodField()

    def get_children(self, explanation: Explanation) -> list[dict]:
        return ExplanationSerializer(explanation.children, many=True).data


@extend_schema(tags=["segments"], responses=ExplanationSerializer)
class SegmentWhyApi(APIView):
    """Which of the segment's conditions hold for this customer, and which fail."""

    def get(self, request, segment_id: int, customer_id: int):
        segment = segment_get(segment_id=segment_id)
        explanation = segment_why(segment=segment, customer=customer_get(customer_id=customer_id))
        return Response(ExplanationSerializer(explanation).data)


class CustomerSegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="segment.id")
    name = serializers.CharField(source="segment.name")
    entered_at = serializers.DateTimeField()


@extend_schema(tags=["customers"])
class CustomerSegmentsApi(generics.ListAPIView):
    """The segments a customer is in now, with when they entered."""

    serializer_class = CustomerSegmentSerializer
    pagination_class = None

    def get_queryset(self):
        return customer_segments(customer=customer_get(customer_id=self.kwargs["customer_id"]))
