from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import models

from apps.accounts.models import AuthConfig, ExternalIdentity, User, X509Usage


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + (("PanDA identity", {"fields": ("dn", "fqans")}),)
    list_display = ("username", "dn", "is_active", "is_staff")


@admin.register(AuthConfig)
class AuthConfigAdmin(admin.ModelAdmin):
    list_display = ("name", "vo", "client_id", "oidc_config_url", "jwt_profile", "enabled")
    list_filter = ("enabled", "jwt_profile")
    search_fields = ("name", "vo", "client_id")
    # Identity providers are https; also what Django 6 will assume for a URL typed without a scheme.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the server writes itself; the admin only looks at them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(ReadOnlyAdmin):
    list_display = ("user", "issuer", "subject", "last_seen")
    list_select_related = ("user",)
    search_fields = ("user__username", "subject", "issuer")


@admin.register(X509Usage)
class X509UsageAdmin(ReadOnlyAdmin):
    list_display = ("dn", "count", "first_seen", "last_seen")
    ordering = ("-last_seen",)
    search_fields = ("dn",)
