from django.urls import path

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
    path("blocks/", templates.BlockListApi.as_view(), name="block-list"),
    path("blocks/<int:block_id>/", templates.BlockDetailApi.as_view(), name="block-detail"),
]
