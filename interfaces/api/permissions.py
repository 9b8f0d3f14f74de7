from rest_framework.permissions import SAFE_METHODS, BasePermission


class CanStartWork(BasePermission):
    """Reading needs an authenticated user; starting work needs staff or the ``backtests.start_work`` permission."""

    message = "Starting work needs a staff account or the 'backtests.add_researchjob' permission."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        return bool(user.is_staff or user.has_perm("backtests.add_researchjob"))


def visible_to(queryset, user, owner_field: str = "created_by"):
    """Runs and jobs belong to the user who made them: staff see everything, others only their own."""
    if user is None or not user.is_authenticated:
        return queryset.none()
    if user.is_staff:
        return queryset
    return queryset.filter(**{owner_field: user})


class OwnedQuerysetMixin:
    """``get_queryset`` limited by :func:`visible_to` (someone else's run is a 404, not a 403: its existence
    is not disclosed)."""

    owner_field = "created_by"

    def get_queryset(self):
        return visible_to(super().get_queryset(), self.request.user, self.owner_field)
