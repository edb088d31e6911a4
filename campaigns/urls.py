from django.urls import path

from campaigns import apis as campaigns
from campaigns.templating import apis as templates

urlpatterns = [
    path("templates/", templates.TemplateListApi.as_view(), name="template-list"),
    path("templates/<int:template_id>/", templates.TemplateDetailApi.as_view(), name="template-detail"),
    path("templates/<int:template_id>/versions/", templates.TemplateVersionsApi.as_view(), name="template-versions"),
    path("templates/<int:template_id>/preview/", templates.TemplatePreviewApi.as_view(), name="template-preview"),
    path(
        "templates/<int:template_id>/audience-preview/",
        templates.TemplateAudiencePreviewApi.as_view(),
        name="template-audience-preview",
    ),
    path("campaigns/", campaigns.CampaignListApi.as_view(), name="campaign-list"),
    path("campaigns/<int:campaign_id>/", campaigns.CampaignDetailApi.as_view(), name="campaign-detail"),
    path("campaigns/<int:campaign_id>/send", campaigns.CampaignSendApi.as_view(), name="campaign-send"),
    path("campaigns/<int:campaign_id>/pause", campaigns.CampaignPauseApi.as_view(), name="campaign-pause"),
    path("campaigns/<int:campaign_id>/resume", campaigns.CampaignResumeApi.as_view(), name="campaign-resume"),
    path("campaigns/<int:campaign_id>/cancel", campaigns.CampaignCancelApi.as_view(), name="campaign-cancel"),
    path("campaigns/<int:campaign_id>/results", campaigns.CampaignResultsApi.as_view(), name="campaign-results"),
    path("blocks/", templates.BlockListApi.as_view(), name="block-list"),
    path("blocks/<int:block_id>/", templates.BlockDetailApi.as_view(), name="block-detail"),
]
