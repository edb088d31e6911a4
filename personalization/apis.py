from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers

from personalization.models import Customer, Identity
from personalization.selectors import customer_get, customer_list, scores_of, traits_of
from tracking.selectors import events_recent_for_customer

RECENT_EVENTS = 50


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = [
            "id",
            "external_id",
            "email",
            "first_name",
            "last_name",
            "timezone",
            "locale",
            "attributes",
            "first_seen_at",
            "last_seen_at",
            "created_at",
            "updated_at",
        ]


class IdentitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Identity
        fields = ["kind", "value", "created_at"]


class EventSerializer(serializers.Serializer):
    message_id = serializers.CharField()
    type = serializers.CharField()
    product_id = serializers.CharField(allow_null=True, help_text="The product's SKU.")
    properties = serializers.JSONField()
    context = serializers.JSONField()
    occurred_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()


class CustomerDetailSerializer(CustomerSerializer):
    identities = IdentitySerializer(many=True, read_only=True)
    traits = serializers.SerializerMethodField(help_text="What Tailor learned from the events (null before any).")
    scores = serializers.SerializerMethodField(
        help_text="Propensity scores, 0-100, by model (purchase_30d, churn_90d)."
    )
    recent_events = serializers.SerializerMethodField()

    class Meta(CustomerSerializer.Meta):
        fields = [*CustomerSerializer.Meta.fields, "identities", "traits", "scores", "recent_events"]

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_scores(self, customer) -> dict:
        return scores_of(customer=customer)

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_traits(self, customer) -> dict | None:
        return traits_of(customer=customer)

    @extend_schema_field(EventSerializer(many=True))
    def get_recent_events(self, customer) -> list[dict]:
        events = events_recent_for_customer(customer_id=customer.pk, limit=RECENT_EVENTS)
        return EventSerializer(events, many=True).data


class CustomerFilterSerializer(serializers.Serializer):
    email = serializers.CharField(required=False, max_length=254, help_text="Exact address, case-insensitive.")
    external_id = serializers.CharField(
        required=False, max_length=255, help_text="The shop's own id (Segment's userId)."
    )


@extend_schema(tags=["customers"], parameters=[CustomerFilterSerializer])
class CustomerListApi(generics.ListAPIView):
    """Customers, newest first, filterable by email and external id."""

    serializer_class = CustomerSerializer

    def get_queryset(self):
        filters = CustomerFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return customer_list(**filters.validated_data)


@extend_schema(tags=["customers"])
class CustomerDetailApi(generics.RetrieveAPIView):
    """One customer's profile, identities and most recent events."""

    serializer_class = CustomerDetailSerializer

    def get_object(self):
        return customer_get(customer_id=self.kwargs["customer_id"])
