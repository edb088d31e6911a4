from rest_framework.permissions import BasePermission

from core.models import ApiKey


class IsApiClientOrStaff(BasePermission):
    """A valid secret key, or a staff member signed in to the admin."""

    message = "Authenticate with `Authorization: Bearer <secret key>` or sign in as staff."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)
