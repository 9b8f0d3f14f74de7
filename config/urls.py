from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/backtesting/", include("interfaces.api.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # browsers ask every site for /favicon.ico; answer with a bundled icon instead of a 404
    path("favicon.ico", RedirectView.as_view(url=static("drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png"),
                                             permanent=True)),
]

handler404 = "interfaces.api.safety.api_not_found"
handler500 = "interfaces.api.safety.api_server_error"
