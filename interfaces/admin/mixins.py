"""Admin helpers shared by the apps."""

from __future__ import annotations

from django.contrib import admin


class ReadOnlyAdminMixin:
    """Result tables are written by services, never edited by hand in the admin."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyTabularInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
