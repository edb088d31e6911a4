"""The templates API: thin adapters over templating's services and selectors."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import ContentBlock, EmailTemplate, MessageKind, SourceFormat, TemplateVersion
from campaigns.templating.selectors import (
    PREVIEW_SAMPLE,
    RenderedEmail,
    audience_sample,
    block_get,
    block_list,
    template_audience_preview,
    template_get,
    template_list,
    template_preview,
    template_preview_profile,
    template_version_current,
    template_versions,
)
from campaigns.templating.services import block_save, template_save
from personalization.segments.selectors import segment_get
from personalization.selectors import customer_get


class VersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = TemplateVersion
        fields = ["id", "number", "subject", "preheader", "html", "text", "blocks", "created_by", "created_at"]


class TemplateSerializer(serializers.ModelSerializer):
    current_version = VersionSerializer(read_only=True)

    class Meta:
        model = EmailTemplate
        fields = ["id", "name", "kind", "subject", "preheader", "source_format", "html", "text", "current_version",
                  "created_at", "updated_at"]  # fmt: skip


class TemplateWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    kind = serializers.ChoiceField(choices=MessageKind.choices, default=MessageKind.MARKETING)
    subject = serializers.CharField(max_length=500)
    preheader = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    source_format = serializers.ChoiceField(choices=SourceFormat.choices, default=SourceFormat.HTML)
    html = serializers.CharField(help_text="HTML or MJML with Liquid.")
    text = serializers.CharField(required=False, allow_blank=True, default="", help_text="Generated when empty.")


def _actor(request) -> str:
    return f"api:{request.auth.name}" if getattr(request.auth, "name", None) else str(request.user)


@extend_schema(tags=["templates"])
class TemplateListApi(generics.ListAPIView):
    """Email templates with their current version; POST creates one (refused with every problem if invalid)."""

    serializer_class = TemplateSerializer

    def get_queryset(self):
        return template_list()

    @extend_schema(request=TemplateWriteSerializer, responses={201: TemplateSerializer})
    def post(self, request):
        data = TemplateWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = EmailTemplate(**data.validated_data)
        template_save(template=template, actor=_actor(request))
        return Response(TemplateSerializer(template).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["templates"])
class TemplateDetailApi(APIView):
    """One template; PATCH changes its draft, and an accepted change becomes its next version."""

    @extend_schema(responses=TemplateSerializer)
    def get(self, request, template_id: int):
        return Response(TemplateSerializer(template_get(template_id=template_id)).data)

    @extend_schema(request=TemplateWriteSerializer, responses=TemplateSerializer)
    def patch(self, request, template_id: int):
        template = template_get(template_id=template_id)
        data = TemplateWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        for name, value in data.validated_data.items():
            setattr(template, name, value)
        template_save(template=template, actor=_actor(request))
        return Response(TemplateSerializer(template).data)


@extend_schema(tags=["templates"])
class TemplateVersionsApi(generics.ListAPIView):
    """Every saved version of a template, newest first."""

    serializer_class = VersionSerializer

    def get_queryset(self):
        return template_versions(template=template_get(template_id=self.kwargs["template_id"]))


class TemplatePreviewRequestSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField(required=False)
    profile = serializers.DictField(required=False, help_text="A made-up customer, when no customer_id is given.")

    def validate(self, attrs):
        if ("customer_id" in attrs) == ("profile" in attrs):
            raise serializers.ValidationError("Give either customer_id or profile.")
        return attrs


class BranchSerializer(serializers.Serializer):
    part = serializers.CharField()
    line = serializers.IntegerField()
    condition = serializers.CharField()
    taken = serializers.CharField()


class RenderedSerializer(serializers.Serializer):
    subject = serializers.CharField()
    preheader = serializers.CharField()
    html = serializers.CharField()
    text = serializers.CharField()
    links = serializers.ListField(child=serializers.CharField())
    personalized = serializers.BooleanField(help_text="False: consent withheld personalization; fallbacks showed.")
    error = serializers.CharField()
    branches = BranchSerializer(many=True, source="notes.branches")
    fallbacks = serializers.ListField(child=serializers.CharField(), source="notes.fallbacks")
    missing = serializers.ListField(child=serializers.CharField(), source="notes.missing")


@extend_schema(tags=["templates"], request=TemplatePreviewRequestSerializer, responses=RenderedSerializer)
class TemplatePreviewApi(APIView):
    """The current version rendered for a customer or a made-up profile, with the branches,
    fallbacks and missing data of that render."""

    def post(self, request, template_id: int):
        version = template_version_current(template=template_get(template_id=template_id))
        data = TemplatePreviewRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "customer_id" in data.validated_data:
            customer = customer_get(customer_id=data.validated_data["customer_id"])
            rendered: RenderedEmail = template_preview(version=version, customer=customer)
        else:
            rendered = template_preview_profile(version=version, profile=data.validated_data["profile"])
        return Response(RenderedSerializer(rendered).data)


class AudiencePreviewRequestSerializer(serializers.Serializer):
    segment_id = serializers.IntegerField()
    sample = serializers.IntegerField(min_value=1, max_value=1000, default=PREVIEW_SAMPLE)


class AudiencePreviewSerializer(serializers.Serializer):
    sampled = serializers.IntegerField()
    rendered = serializers.IntegerField()
    failed = serializers.DictField(child=serializers.CharField(), help_text="{customer id: error}")
    not_personalized = serializers.IntegerField()
    fallbacks = serializers.DictField(child=serializers.IntegerField(), help_text="{fallback shown: renders}")
    missing = serializers.DictField(child=serializers.ListField(child=serializers.IntegerField()))
    branches = serializers.ListField(child=serializers.DictField())


@extend_schema(tags=["templates"], request=AudiencePreviewRequestSerializer, responses=AudiencePreviewSerializer)
class TemplateAudiencePreviewApi(APIView):
    """The current version rendered for a random sample of a segment: how often each
    fallback fired, which variables were missing for whom, which branches were taken."""

    def post(self, request, template_id: int):
        version = template_version_current(template=template_get(template_id=template_id))
        data = AudiencePreviewRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        segment = segment_get(segment_id=data.validated_data["segment_id"])
        customers = audience_sample(segment=segment, size=data.validated_data["sample"])
        preview = template_audience_preview(version=version, customers=customers)
        return Response(AudiencePreviewSerializer(_audience_answer(len(customers), preview)).data)


def _audience_answer(sampled: int, preview) -> dict:
    branches = [
        {"part": part, "line": line, "condition": condition, "taken": taken, "renders": count}
        for (part, line, condition, taken), count in preview.branches.most_common()
    ]
    return {
        "sampled": sampled, "rendered": preview.rendered, "failed": preview.failed,
        "not_personalized": preview.not_personalized, "fallbacks": dict(preview.fallbacks),
        "missing": preview.missing, "branches": branches,
    }  # fmt: skip


class BlockSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContentBlock
        fields = ["id", "name", "description", "source", "created_at", "updated_at"]


@extend_schema(tags=["templates"])
class BlockListApi(generics.ListCreateAPIView):
    """Reusable content blocks ({% render 'name' %}); POST creates one."""

    serializer_class = BlockSerializer

    def get_queryset(self):
        return block_list()

    def perform_create(self, serializer):
        serializer.instance = block_save(block=ContentBlock(**serializer.validated_data))


@extend_schema(tags=["templates"])
class BlockDetailApi(generics.RetrieveUpdateAPIView):
    """One content block; a change reaches templates in their next version."""

    serializer_class = BlockSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        return block_get(block_id=self.kwargs["block_id"])

    def perform_update(self, serializer):
        block = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(block, name, value)
        serializer.instance = block_save(block=block)
