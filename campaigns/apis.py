"""The campaigns API: thin adapters over campaigns' services and selectors."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import Campaign, ExperimentMode, ScheduleMode, TemplateVersion, Variant, WinnerMetric
from campaigns.results import CampaignResults, campaign_results
from campaigns.selectors import campaign_get, campaign_list, campaign_progress
from campaigns.services import campaign_cancel, campaign_pause, campaign_resume, campaign_save, campaign_send
from consent.models import Topic
from personalization.models import Segment


class VariantSerializer(serializers.ModelSerializer):
    template_version = serializers.PrimaryKeyRelatedField(
        queryset=TemplateVersion.objects.all(), help_text="A template version's id (a template's current_version)."
    )

    class Meta:
        model = Variant
        fields = ["id", "name", "template_version", "subject", "weight", "is_control"]
        read_only_fields = ["id"]


class CampaignSerializer(serializers.ModelSerializer):
    topic = serializers.SlugRelatedField(slug_field="slug", queryset=Topic.objects.all(), required=False,
                                         allow_null=True)  # fmt: skip
    segments = serializers.PrimaryKeyRelatedField(many=True, queryset=Segment.objects.all())
    excluded_segments = serializers.PrimaryKeyRelatedField(many=True, queryset=Segment.objects.all(), required=False)
    variants = VariantSerializer(many=True)
    progress = serializers.SerializerMethodField()
    winner = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "topic", "segments", "excluded_segments", "from_email", "from_name", "state",
            "schedule_mode", "send_at", "local_hour", "experiment_mode", "holdout_percent", "test_percent",
            "test_hours", "winner_metric", "min_sample", "alpha", "attribution_hours", "variants", "winner",
            "winner_decision", "left_out", "progress", "planned_at", "started_at", "finished_at", "created_at",
        ]  # fmt: skip
        read_only_fields = ["state", "winner_decision", "left_out", "planned_at", "started_at", "finished_at"]
        extra_kwargs = {
            "schedule_mode": {"help_text": f"One of {', '.join(ScheduleMode.values)}."},
            "experiment_mode": {"help_text": f"One of {', '.join(ExperimentMode.values)}."},
            "winner_metric": {"help_text": f"One of {', '.join(WinnerMetric.values)}."},
        }

    def get_progress(self, campaign) -> dict:
        return campaign_progress(campaign=campaign)

    def save_campaign(self, campaign: Campaign) -> Campaign:
        data = dict(self.validated_data)
        segments, excluded = data.pop("segments", None), data.pop("excluded_segments", None)
        variants = data.pop("variants", None)
        for name, value in data.items():
            setattr(campaign, name, value)
        return campaign_save(campaign=campaign, segments=segments, excluded_segments=excluded, variants=variants)


@extend_schema(tags=["campaigns"])
class CampaignListApi(generics.ListAPIView):
    """Campaigns, newest first, with where each stands; POST creates a draft with its variants."""

    serializer_class = CampaignSerializer

    def get_queryset(self):
        return campaign_list()

    @extend_schema(request=CampaignSerializer, responses={201: CampaignSerializer})
    def post(self, request):
        data = CampaignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = data.save_campaign(Campaign())
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["campaigns"])
class CampaignDetailApi(APIView):
    """One campaign and its progress; PATCH changes a draft (variants, if given, are replaced)."""

    @extend_schema(responses=CampaignSerializer)
    def get(self, request, campaign_id: int):
        return Response(CampaignSerializer(campaign_get(campaign_id=campaign_id)).data)

    @extend_schema(request=CampaignSerializer, responses=CampaignSerializer)
    def patch(self, request, campaign_id: int):
        campaign = campaign_get(campaign_id=campaign_id)
        data = CampaignSerializer(campaign, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(CampaignSerializer(data.save_campaign(campaign)).data)


class _CampaignActionApi(APIView):
    """POST runs `service` on the campaign and answers with the campaign."""

    service = None

    @extend_schema(tags=["campaigns"], request=None, responses=CampaignSerializer)
    def post(self, request, campaign_id: int):
        campaign = type(self).service(campaign=campaign_get(campaign_id=campaign_id))
        return Response(CampaignSerializer(campaign).data)


class CampaignSendApi(_CampaignActionApi):
    """Send a draft now, or at its time; its audience is planned when it starts."""

    service = staticmethod(campaign_send)


class CampaignPauseApi(_CampaignActionApi):
    """Stop sending after the messages in flight."""

    service = staticmethod(campaign_pause)


class CampaignResumeApi(_CampaignActionApi):
    """Go on sending a paused campaign."""

    service = staticmethod(campaign_resume)


class CampaignCancelApi(_CampaignActionApi):
    """Send nothing more: what was not sent is cancelled."""

    service = staticmethod(campaign_cancel)


class IntervalSerializer(serializers.Serializer):
    low = serializers.FloatField()
    high = serializers.FloatField()


class ComparisonSerializer(serializers.Serializer):
    metric = serializers.CharField()
    lift = serializers.FloatField(allow_null=True, help_text="Relative: (arm - base) / base.")
    difference = serializers.FloatField(source="test.difference")
    interval = IntervalSerializer(source="test.interval", help_text="95% interval of the difference.")
    p_value = serializers.FloatField(source="test.p_value")
    probability_to_beat = serializers.FloatField(allow_null=True)


def _arm_data(arm) -> dict:
    rates = {
        metric: {"count": getattr(arm, metric), "rate": arm.rate(metric),
                 "interval": {"low": arm.interval(metric).low, "high": arm.interval(metric).high}}
        for metric in ("delivered", "bounced", "opens", "clicks", "conversions", "orders", "unsubscribes",
                       "complaints")
    }  # fmt: skip
    return {
        "name": arm.name, "variant": arm.variant_id, "is_control": arm.is_control, "recipients": arm.recipients,
        "proxy_opens": arm.proxy_opens, "revenue": str(arm.revenue), "order_revenue": str(arm.order_revenue),
        "revenue_per_recipient": arm.revenue_per_recipient(), "rates": rates,
    }  # fmt: skip


class ResultsSerializer(serializers.Serializer):
    arms = serializers.SerializerMethodField()
    against_control = serializers.DictField(child=ComparisonSerializer(many=True))
    against_holdout = serializers.DictField(child=ComparisonSerializer(many=True))

    def get_arms(self, results: CampaignResults) -> list[dict]:
        return [_arm_data(arm) for arm in results.arms]


@extend_schema(tags=["campaigns"], responses=ResultsSerializer)
class CampaignResultsApi(APIView):
    """Per variant and the holdout: sent, delivered, bounced, unique opens (privacy-proxy opens
    apart), clicks, conversions, revenue, unsubscribes, complaints, with rates and 95% intervals;
    each variant against control (z-test, Welch, probability to beat) and against the holdout."""

    def get(self, request, campaign_id: int):
        results = campaign_results(campaign=campaign_get(campaign_id=campaign_id))
        return Response(ResultsSerializer(results).data)
