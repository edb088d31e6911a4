"""The recommendations API: a thin adapter over serving."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from personalization.recommendations.serving import recommendations_for
from personalization.selectors import customer_get


class RecommendationQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=50, default=10)
    category = serializers.CharField(required=False, default="", allow_blank=True)
    max_price = serializers.DecimalField(required=False, max_digits=12, decimal_places=2, allow_null=True, default=None)
    explain = serializers.BooleanField(required=False, default=False, help_text="Say why each was chosen.")


class RecommendedProductSerializer(serializers.Serializer):
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    category = serializers.CharField(source="product.category")
    price = serializers.DecimalField(source="product.price", max_digits=12, decimal_places=2)
    currency = serializers.CharField(source="product.currency")
    url = serializers.CharField(source="product.url")
    image_url = serializers.CharField(source="product.image_url")
    score = serializers.FloatField()
    because = serializers.CharField()


class RecommendationsSerializer(serializers.Serializer):
    source = serializers.CharField(help_text="model, popular_in_viewed_categories, trending_24h or popular.")
    model_version = serializers.IntegerField(allow_null=True)
    items = RecommendedProductSerializer(many=True)


@extend_schema(tags=["customers"], parameters=[RecommendationQuerySerializer], responses=RecommendationsSerializer)
class CustomerRecommendationsApi(APIView):
    """Products for this customer (in stock, not bought yet), with where the list came from."""

    def get(self, request, customer_id: int):
        query = RecommendationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        recommendations = recommendations_for(customer=customer_get(customer_id=customer_id), **query.validated_data)
        return Response(RecommendationsSerializer(recommendations).data)
